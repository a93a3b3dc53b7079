"""Served models (SavedModel, ONNX, LiteRT, OpenVINO IR): raw images in, slim's eval
preprocessing inside, each verified on its own runtime and evaluated like the model."""

from __future__ import annotations

import contextlib
import csv
import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import one_error_line, run_in_process
from PIL import Image

from inception_v2.cli import main
from inception_v2.data.example_data import example_data_path
from inception_v2.data.labels import data_path, synsets
from inception_v2.data.preprocessing import decode_image, load_for_eval

pytestmark = pytest.mark.slow  # exports and runs commands: not in the quick subset

VAL = data_path("imagenet_val_sample")


def _export(weights, out: Path) -> str:
    """``export`` as a user runs it (verification on); what it said on stderr."""
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        status = main(["export", "--weights", str(weights), "--out", str(out)])
    assert status == 0, said.getvalue()
    return said.getvalue()


@pytest.fixture(scope="module")
def served(live_thin, tmp_path_factory):
    """The live thin network exported as a SavedModel, and what export said."""
    out = tmp_path_factory.mktemp("served") / "served"
    return out, _export(live_thin, out)


@pytest.fixture(scope="module")
def exported(live_thin, served, tmp_path_factory):
    """The same network in every format: ``{name: (path, what export said)}``."""
    folder = tmp_path_factory.mktemp("exported")
    files = {name: folder / name for name in ("model.onnx", "model.tflite", "model.xml")}
    return {"savedmodel": served, **{name: (path, _export(live_thin, path)) for name, path in files.items()}}


def _predictions(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {row["id"]: row for row in csv.DictReader(f)}


RUNTIMES = {
    "savedmodel": "tensorflow (SavedModel)",
    "model.onnx": "onnxruntime",
    "model.tflite": "litert",
    "model.xml": "openvino (IR)",
}


@pytest.mark.parametrize("fmt", sorted(RUNTIMES))
def test_export_verifies_each_file_on_its_own_runtime(exported, fmt):
    path, said = exported[fmt]
    fed = "encoded files" if fmt == "savedmodel" else "decoded uint8, each at its own size"
    assert f"verify: 113 images ({fed}) on {RUNTIMES[fmt]}:" in said, said
    assert "top-1 agrees on 113/113" in said, said
    top5 = int(said.split("top-5 on ")[1].split("/")[0])
    assert top5 >= 110, said  # a near-tie at rank 5 may swap, within the tolerance
    distinct = int(said.split(" distinct classes")[0].rsplit("(", 1)[1])
    assert distinct >= 20, "the network's top-1 class varies from image to image"


def test_the_saved_models_labels_are_slims(served):
    out, _ = served
    labels = (out / "assets.extra" / "labels.txt").read_text().splitlines()
    assert labels == ["background", *synsets()]  # slim's 1001 outputs: background, then the synsets


def _run_litert(path, image):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    return runner(images=image[None])["probabilities"]


def _run_onnx(path, image):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"images": image[None]})[0]


def _run_openvino(path, image):
    import openvino

    compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(image[None])[compiled.outputs[0]]


def _run_savedmodel(path, image):
    loaded = tf.saved_model.load(str(path))
    encoded = tf.io.encode_png(image)  # lossless: the same pixels
    return loaded.signatures["serving_default"](images=tf.constant([encoded.numpy()]))[
        "probabilities"
    ].numpy()


CLIENTS = {
    "savedmodel": _run_savedmodel,
    "model.onnx": _run_onnx,
    "model.tflite": _run_litert,
    "model.xml": _run_openvino,
}


@pytest.mark.parametrize("fmt", sorted(RUNTIMES))
def test_each_runtimes_own_client_gets_the_models_probabilities(exported, live_thin, fmt):
    """Plain client code of each runtime (not the project's loader), fed a photo decoded at its
    own size (the SavedModel: its PNG bytes), against the Keras model on slim's preprocessing."""
    from inception_v2.weights.factory import build_from_weights

    path, _ = exported[fmt]
    model = build_from_weights(live_thin)[0]
    for photo in sorted((example_data_path() / "val" / "ants").iterdir())[:2]:  # two sizes
        image = decode_image(tf.io.read_file(str(photo))).numpy()
        expected = model.predict(load_for_eval(str(photo))[None], verbose=0)
        np.testing.assert_allclose(CLIENTS[fmt](path, image), expected, atol=1e-6)


@pytest.fixture(scope="module")
def keras_predictions(live_thin, tmp_path_factory):
    """eval's predictions CSV of the weights themselves, on the bundled images."""
    path = tmp_path_factory.mktemp("keras") / "keras.csv"
    assert main(["eval", "--weights", str(live_thin), "--predictions-csv", str(path), "--quiet"]) == 0
    return _predictions(path)


@pytest.mark.parametrize("fmt", sorted(RUNTIMES))
def test_eval_of_an_export_is_eval_of_its_weights(exported, keras_predictions, fmt, tmp_path, capsys):
    """Fed as a client feeds it (the encoded files, or each decoded at its own size), each
    export scores image by image as its weights do, on a network whose top-1 class varies."""
    path, _ = exported[fmt]
    done = run_in_process(capsys, "eval", "--weights", path, "--predictions-csv", tmp_path / "p.csv")
    assert done.returncode == 0, done.stderr
    assert RUNTIMES[fmt] in done.stdout  # the table names the runtime
    theirs = _predictions(tmp_path / "p.csv")
    assert set(theirs) == set(keras_predictions) and len(theirs) == 100
    assert len({row["top1_index"] for row in keras_predictions.values()}) >= 10, "predictions must vary"
    for image, row in keras_predictions.items():
        ranked = [float(row[f"top{k}_prob"]) for k in range(1, 6)]
        assert theirs[image]["top1_synset"] == row["top1_synset"], image
        for k in range(1, 6):
            assert abs(float(theirs[image][f"top{k}_prob"]) - ranked[k - 1]) <= 2e-6, (image, k)
            if theirs[image][f"top{k}_synset"] != row[f"top{k}_synset"]:  # only where two ranks tie
                assert sum(abs(p - ranked[k - 1]) <= 2e-6 for p in ranked) >= 2, (image, k)


def test_predict_of_an_export_is_predict_of_its_weights(exported, live_thin, capsys):
    files = sorted(VAL.iterdir())[:6]
    printed = {}
    for weights in (live_thin, *(path for path, _ in exported.values())):
        done = run_in_process(capsys, "predict", *files, "--weights", weights, "--quiet")
        assert done.returncode == 0, done.stderr
        printed[str(weights)] = done.stdout.splitlines()
    ours = printed.pop(str(live_thin))
    assert len(ours) > 6
    for name, theirs in printed.items():
        assert len(theirs) == len(ours), name
        for mine, their in zip(ours, theirs, strict=True):
            assert mine.split()[:2] == their.split()[:2], (name, mine, their)  # same class at each rank


def _encoded(path: Path, fmt: str) -> bytes:
    with Image.open(path) as image:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def test_the_signature_takes_mixed_sizes_and_formats_as_eval_preprocesses_them(served, tmp_path):
    """serving_default on a batch of JPEG, PNG, BMP and GIF bytes of different sizes equals the
    same images fed one at a time, and the ``preprocessed`` signature fed the project's own
    ``load_for_eval`` of each file: the preprocessing inside is slim's, as eval does it."""
    out, _ = served
    loaded = tf.saved_model.load(str(out))
    serve, preprocessed = loaded.signatures["serving_default"], loaded.signatures["preprocessed"]
    files = sorted((example_data_path() / "val" / "bees").iterdir())[:4]  # photos of their own sizes
    encoded = [files[0].read_bytes(), _encoded(files[1], "PNG"), _encoded(files[2], "BMP")]
    encoded.append(_encoded(files[3], "GIF"))
    sizes = {Image.open(io.BytesIO(e)).size for e in encoded}
    assert len(sizes) == 4, "four sizes in one batch"
    batch = serve(images=tf.constant(encoded))
    assert batch["probabilities"].shape == (4, 1001) and batch["labels"].shape == (4, 5)
    for i, data in enumerate(encoded):
        one = serve(images=tf.constant([data]))
        np.testing.assert_allclose(one["probabilities"][0], batch["probabilities"][i], atol=1e-6)
        written = tmp_path / f"image{i}"
        written.write_bytes(data)
        reference = preprocessed(images=tf.constant(load_for_eval(str(written))[None]))
        np.testing.assert_allclose(reference["probabilities"][0], batch["probabilities"][i], atol=1e-6)
    # The top 5, its scores and labels are the probabilities' own.
    probabilities = batch["probabilities"].numpy()
    best = np.argsort(-probabilities, axis=1)[:, :5]
    np.testing.assert_array_equal(batch["classes"].numpy(), best)
    np.testing.assert_allclose(batch["scores"].numpy(), np.take_along_axis(probabilities, best, 1))
    names = ["background", *synsets()]
    assert [[s.decode() for s in row] for row in batch["labels"].numpy()] == [
        [names[i] for i in row] for row in best
    ]
    # A file that does not decode fails the request, with the decoder's message.
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve(images=tf.constant([encoded[0], b"this is not an image"]))


def test_verify_keeps_no_file_that_computes_otherwise(live_thin, tmp_path, capsys, monkeypatch):
    """A served model whose preprocessing resizes with TF2's kernel (half-pixel centres: the
    error slim's users report most) differs from the model beyond the tolerance: exit 1, one
    line, nothing at --out. The same export with slim's kernel is kept (the test above)."""
    import inception_v2.export.serving as serving

    def tf2_preprocessing(image, height, width):
        image = tf.image.central_crop(tf.image.convert_image_dtype(image, tf.float32), 0.875)
        return (tf.image.resize(image, (height, width)) - 0.5) * 2.0

    monkeypatch.setattr(serving, "preprocess_for_eval", tf2_preprocessing)
    out = tmp_path / "served"
    done = run_in_process(capsys, "export", "--weights", live_thin, "--out", out, "--quiet")
    line = one_error_line(done, f"{out}: not written", "max |difference of probabilities|", code=1)
    assert "allowed 0.0001 of the largest" in line
    assert list(tmp_path.iterdir()) == [], "no file, no staging folder"


def test_what_is_not_a_served_model_is_one_line(served, exported, tmp_path, capsys):
    out, _ = served
    # Truncated files of each format, and another model's ONNX file.
    for name in ("model.onnx", "model.tflite"):
        path, _ = exported[name]
        cut = tmp_path / f"cut{path.suffix}"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        done = run_in_process(capsys, "eval", "--weights", cut, "--quiet")
        one_error_line(done, f"{cut}: does not load on {RUNTIMES[name]}")
        cut.unlink()
    import tf2onnx

    doubled = tf.function(lambda x: x * 2.0, input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    other = tmp_path / "other.onnx"
    tf2onnx.convert.from_function(doubled, input_signature=doubled.input_signature, output_path=str(other))
    done = run_in_process(capsys, "predict", VAL, "--weights", other, "--quiet")
    one_error_line(done, f"{other}: takes ['x']", "not 'images' and 'probabilities'")
    other.unlink()
    # Another model's SavedModel: a float input, no labels.
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x * 2.0}, input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    foreign = tmp_path / "foreign"
    tf.saved_model.save(module, str(foreign), signatures={"serving_default": module.f})
    done = run_in_process(capsys, "eval", "--weights", foreign, "--quiet")
    one_error_line(done, f"{foreign}: its serving_default signature does not take encoded images")
    # A truncated one.
    truncated = tmp_path / "truncated"
    import shutil

    shutil.copytree(out, truncated)
    pb = truncated / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[: pb.stat().st_size // 3])
    done = run_in_process(capsys, "predict", VAL, "--weights", truncated, "--quiet")
    one_error_line(done, f"{truncated}: does not load on tensorflow (SavedModel)")
    # It runs as exported: no other precision or engine, no Grad-CAM; commands that need
    # weights name what they got.
    for args, fragments in (
        (["eval", "--precision", "bfloat16"], ["a served model runs as it was exported", "--precision"]),
        (["predict", VAL, "--fast"], ["a served model runs as it was exported", "--fast"]),
        (["eval", "--mistakes", "3", "--out-mistakes", tmp_path / "m.png"], ["no gradients for Grad-CAM"]),
        (["explain", VAL, "--out", tmp_path / "why"], ["an exported model (what inception-v2 export"]),
        (["export", "--out", tmp_path / "again"], ["an exported model (what inception-v2 export"]),
    ):
        done = run_in_process(capsys, *args, "--weights", out, "--quiet")
        one_error_line(done, str(out), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "truncated"]


def test_bench_races_each_export_on_its_own_runtime(exported):
    """bench --exports: each file is a contender fed its client's input at the batch size the
    race gives it, and answers with that many rows of probabilities."""
    from inception_v2.bench.speed import SERVED, served_contenders
    from inception_v2.weights.slim_reference import smooth_random_images

    paths = {"savedmodel": exported["savedmodel"][0]}
    paths.update({fmt: exported[f"model{suffix}"][0] for fmt, suffix in (("onnx", ".onnx"),
                  ("litert", ".tflite"), ("openvino", ".xml"))})  # fmt: skip
    contenders = served_contenders(paths)
    assert sorted(contenders) == sorted(SERVED.values())
    for batch in (1, 3):
        x = smooth_random_images(batch, 224, 224, np.random.default_rng(batch))
        for name, contender in contenders.items():
            probabilities = np.asarray(contender(x))
            assert probabilities.shape == (batch, 1001), name
            np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4, err_msg=name)
