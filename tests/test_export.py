"""Exported classifiers (SavedModel, LiteRT, ONNX, OpenVINO IR) take raw images and match the Keras model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import one_error_line, run_in_process

from inception_v2.data.example_data import example_data_path
from inception_v2.data.labels import synsets
from inception_v2.data.preprocessing import decode_image, load_for_eval
from inception_v2.export.artifacts import export
from inception_v2.inference.served import load_served
from inception_v2.training.classifier import build_classifier

pytestmark = pytest.mark.slow  # trains, or runs several backends or commands: not in the quick subset


@pytest.fixture(scope="module")
def classifier(slim_checkpoints):
    """A 3-class head on slim's network four times thinner: every kind of layer the release
    has, for formats whose conversion does not depend on the width."""
    model = build_classifier(3, weights=slim_checkpoints.path(depth_multiplier=0.25))
    head = model.get_layer("Logits__Conv2d_1c_1x1")  # a non-trivial head
    head.set_weights(
        [np.random.default_rng(0).normal(0, 0.01, w.shape).astype("float32") for w in head.get_weights()]
    )
    return model


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


PHOTOS = sorted((example_data_path() / "val" / "ants").iterdir())[:2]  # two sizes


@pytest.mark.parametrize(
    "fmt,name,runner,runtime",
    [
        ("savedmodel", "model", _run_savedmodel, "tensorflow (SavedModel)"),
        ("litert", "model.tflite", _run_litert, "litert"),
        ("onnx", "model.onnx", _run_onnx, "onnxruntime"),
        ("openvino", "model.xml", _run_openvino, "openvino (IR)"),
    ],
)
def test_export_round_trip(classifier, tmp_path, fmt, name, runner, runtime):
    """Each file, run by its runtime's own client code on a photo decoded at its own size, gives
    the Keras model's probabilities on slim's preprocessing; it carries the class names."""
    said = []
    names = ["ants", "bees", "wasps"]
    path = export(classifier, tmp_path / name, fmt, labels=names, verify=True, say=said.append)
    assert said[0].startswith("verify: 113 images (") and f" on {runtime}: " in said[0], said
    assert "top-1 agrees on 113/113" in said[0], said
    for photo in PHOTOS:
        image = decode_image(tf.io.read_file(str(photo))).numpy()
        expected = tf.nn.softmax(classifier.predict(load_for_eval(str(photo))[None], verbose=0)).numpy()
        served = runner(path, image)
        assert served.shape == expected.shape == (1, 3)
        np.testing.assert_allclose(served, expected, atol=1e-5)
    assert load_served(path).labels == names
    written = [name, "model.bin"] if fmt == "openvino" else [name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(written), "no staging files left"
    with pytest.raises(FileExistsError):
        export(classifier, path, fmt)


def test_cli_export_names_imagenets_classes_and_keeps_a_users_bin(converted_thin, tmp_path, capsys):
    """The command's IR carries slim's 1001 labels (read here with OpenVINO itself), and an
    existing .bin beside --out, which the IR would overwrite, is refused before any work."""
    import json

    import openvino

    out = tmp_path / "imagenet.xml"
    users = tmp_path / "imagenet.bin"
    users.write_bytes(b"mine")
    done = run_in_process(capsys, "export", "--weights", converted_thin, "--out", out)
    one_error_line(done, str(users), "exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imagenet.bin"] and users.read_bytes() == b"mine"
    users.unlink()
    done = run_in_process(capsys, "export", "--weights", converted_thin, "--out", out, "--no-verify")
    assert done.returncode == 0 and "verify:" not in done.stderr, done.stderr
    model = openvino.Core().read_model(str(out))
    labels = json.loads(model.get_rt_info("inception_v2_labels").astype(str))
    assert labels == ["background", *synsets()]
    assert [i.get_any_name() for i in model.inputs] == ["images"]
    assert str(model.inputs[0].get_element_type()) == "<Type: 'uint8_t'>"
    assert model.inputs[0].get_partial_shape().to_string() == "[?,?,?,3]"
