"""int8 on OpenVINO: NNCF quantizes the converted network on calibration images; the result is
an int8 network (quantize operations in it), close to float32 where float32 is decisive, and
every misuse is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_in_process

from inception_v2 import InceptionV2, inference_function
from inception_v2.cli import main
from inception_v2.data.calibration import calibration_images
from inception_v2.data.example_data import example_data_path
from inception_v2.errors import CheckpointError, DataError, InvalidArgument, MissingFile
from inception_v2.evaluation.evaluate import EvalResult
from inception_v2.studies.bn.data import load_study_data
from inception_v2.studies.bn.study import StudySettings, run_study


def test_calibration_set_is_eval_preprocessed_and_counts_what_it_skips(tmp_path):
    bundled = calibration_images(count=5)
    assert bundled.images.shape == (5, 224, 224, 3) and bundled.images.dtype == np.float32
    assert -1.0 <= bundled.images.min() and bundled.images.max() <= 1.0
    assert bundled.describe() == "5 images from the 100 bundled ImageNet validation images"
    folder = tmp_path / "calibration"
    folder.mkdir()
    for source in sorted(example_data_path().glob("val/ants/*"))[:3]:
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    (folder / "fake.jpg").write_text("not an image either")
    whole = (folder / source.name).read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])  # starts like a JPEG, cut short
    found = calibration_images(folder)
    assert len(found.images) == 3 and len(found.skipped) == 3
    assert sorted(Path(p).name for p in found.skipped) == ["fake.jpg", "notes.txt", "truncated.jpg"]
    assert found.describe().endswith("3 unreadable file(s) skipped")
    with pytest.raises(DataError, match="3 image files, 4 asked"):
        calibration_images(folder, count=4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files to calibrate on"):
        calibration_images(tmp_path / "empty")
    with pytest.raises(MissingFile, match="no such calibration folder"):
        calibration_images(tmp_path / "missing")


def test_int8_is_the_openvino_engines():
    model = InceptionV2(depth_multiplier=0.25, input_shape=(64, 64, 3), classes=5, classifier_activation=None)
    with pytest.raises(InvalidArgument, match="int8 runs on the openvino engine"):
        inference_function(model, precision="int8")
    with pytest.raises(InvalidArgument, match="int8 needs calibration images"):
        inference_function(model, engine="openvino", precision="int8")


@pytest.mark.slow
def test_int8_keeps_a_trained_networks_accuracy(tmp_path):
    """A network that has learned something (BN-x30 of the BN study, 150 steps on the digits),
    scored on its 359 held-out digits: int8, calibrated on 150 training digits, stays near
    float32 (87.2 % -> 84.4 % on a Zen 4 EPYC; the fully trained study's networks lose about one
    point, docs/performance.md). A broken quantization (wrong input range, uncalibrated) falls to
    chance. Random weights would say nothing: their logits are near-ties."""
    import keras

    settings = StudySettings(steps=150, eval_every=150, variants=["BN-x30"])
    run_study(settings, tmp_path / "study")
    model = keras.saving.load_model(tmp_path / "study" / "models" / "BN-x30.keras", safe_mode=True)
    data = load_study_data(None, settings.image_size, settings.validation_split, settings.seed)
    float32 = np.asarray(inference_function(model)(data.x_val)).argmax(-1)
    calibration = data.x_train[:150]
    run = inference_function(model, engine="openvino", precision="int8", calibration=calibration)
    assert (run.precision, run.engine) == ("int8", "openvino")
    int8 = np.asarray(run(data.x_val)).argmax(-1)
    accuracy = {"float32": (float32 == data.y_val).mean(), "int8": (int8 == data.y_val).mean()}
    assert accuracy["float32"] >= 0.8, accuracy  # it has learned
    assert accuracy["int8"] >= accuracy["float32"] - 0.08, accuracy
    assert (int8 != float32).any(), "int8 computed: not float32"


@pytest.mark.slow
def test_quantized_network_holds_int8_operations(converted_thin):
    import openvino

    from inception_v2.inference.openvino import quantize

    model = InceptionV2(weights=str(converted_thin), depth_multiplier=0.25, classifier_activation=None)
    converted = openvino.convert_model(inference_function(model).graph_function)
    images = calibration_images(count=8).images
    quantized = quantize(converted, [images[i : i + 1] for i in range(len(images))])
    kinds = [op.get_type_name() for op in quantized.get_ops()]
    assert "FakeQuantize" not in [op.get_type_name() for op in converted.get_ops()]
    assert kinds.count("FakeQuantize") >= 60, "every convolution's input and weights quantized"


@pytest.mark.slow
def test_cli_eval_int8_names_its_calibration(converted_thin, capsys):
    """stdout is the report alone (NNCF's progress bars go to stderr), and it names the set."""
    argv = ["eval", "--weights", str(converted_thin), "--precision", "int8", "--limit", "20", "--json"]
    assert main([*argv, "--calibration", str(example_data_path() / "train")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["precision"], report["engine"]) == ("int8", "openvino")
    assert report["calibration"].startswith("24 images from") and report["count"] == 20
    table = EvalResult(
        data="d", weights="w", precision="int8", engine="openvino", calibration="24 images"
    ).table()
    assert "calibration                  24 images" in table


def test_int8_misuse_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = [
        (["--precision", "int8", "--engine", "keras"], "int8 runs on the openvino engine"),
        (["--precision", "int8", "--calibration", str(tmp_path / "empty")], "no image files to calibrate on"),
        (["--calibration", str(tmp_path / "empty")], "--calibration is for --precision int8"),
    ]
    for extra, message in cases:
        done = run_in_process(capsys, "eval", "--weights", "missing-is-checked-later.weights.h5", *extra)
        assert done.returncode == 2, done.stderr[-2000:]
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], done.stderr[-2000:]


@pytest.fixture(scope="module")
def quantized(converted_thin, tmp_path_factory):
    """``quantize`` as a user runs it, and what it said on stderr."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("int8") / "inception_v2_int8"
    calibration = str(example_data_path() / "train")
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        argv = ["quantize", "--weights", str(converted_thin), "--calibration", calibration, "--out", str(out)]
        assert main(argv) == 0, said.getvalue()
    return out, said.getvalue()


@pytest.fixture(scope="module")
def quantized_folder(quantized):
    return quantized[0]


@pytest.mark.slow
def test_quantize_saves_what_eval_and_predict_run_as_is(quantized, converted_thin, capsys):
    """The saved int8 IR takes what export's IR takes (uint8 images at their own size, slim's
    preprocessing inside, probabilities out, labels in rt_info); quantize reports its agreement
    with float32, and eval and predict run it as saved."""
    import openvino

    from inception_v2.data.labels import synsets
    from inception_v2.inference.quantized import RAW_LAYOUT
    from inception_v2.weights.download import sha384_of

    quantized_folder, said = quantized
    record = json.loads((quantized_folder / "quantized.json").read_text())
    assert record["classes"] == 1001 and record["source_sha384"] == sha384_of(converted_thin)
    assert record["calibration"].startswith("24 images from") and record["nncf"] and record["openvino"]
    assert record["layout"] == RAW_LAYOUT
    assert sorted(p.name for p in quantized_folder.iterdir()) == sorted(
        ["model.xml", "model.bin", "quantized.json", "inception_v2_output.json"]
    )
    model = openvino.Core().read_model(str(quantized_folder / "model.xml"))
    assert [i.get_any_name() for i in model.inputs] == ["images"]
    assert model.inputs[0].get_partial_shape().to_string() == "[?,?,?,3]"
    assert [o.get_any_name() for o in model.outputs] == ["probabilities"]
    assert json.loads(model.get_rt_info("inception_v2_labels").astype(str)) == ["background", *synsets()]
    assert any(op.get_type_name() == "FakeQuantize" for op in model.get_ops()), "int8 operations"
    assert "int8 against float32 (reported, not judged): 113 images (decoded uint8" in said, said
    assert "allowed" not in said.split("int8 against float32")[1]
    capsys.readouterr()
    assert main(["eval", "--weights", str(quantized_folder), "--limit", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["precision"], report["engine"], report["count"]) == ("int8", "openvino", 10)
    assert report["calibration"] == record["calibration"]
    assert (
        main(
            [
                "predict",
                str(example_data_path() / "val" / "ants"),
                "--weights",
                str(quantized_folder),
                "--json",
            ]
        )
        == 0
    )
    predictions = json.loads(capsys.readouterr().out)
    assert len(predictions) == 6 and abs(sum(t["probability"] for t in predictions[0]["top"]) - 1) < 0.5
    # Its model.xml stands for the folder (the record beside it says what the file is).
    assert main(["eval", "--weights", str(quantized_folder / "model.xml"), "--limit", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"] == report["top1"]


@pytest.mark.slow
def test_an_int8_folder_of_the_earlier_layout_still_runs_as_saved(converted_thin, tmp_path, capsys):
    """Earlier versions saved the int8 IR of the preprocessed float input, logits out: such a
    folder still loads, and computes what the same quantization in memory computes."""
    import dataclasses

    import openvino

    from inception_v2.files import mark_owner
    from inception_v2.inference.openvino import quantize
    from inception_v2.inference.quantized import PREPROCESSED_LAYOUT, QuantizedRecord, load_quantized

    model = InceptionV2(weights=str(converted_thin), depth_multiplier=0.25, classifier_activation=None)
    calibration = calibration_images(example_data_path() / "train").images
    converted = openvino.convert_model(inference_function(model).graph_function)
    folder = tmp_path / "earlier"
    folder.mkdir()
    openvino.save_model(quantize(converted, [calibration[i : i + 1] for i in range(len(calibration))]),
                        str(folder / "model.xml"))  # fmt: skip
    record = QuantizedRecord(
        classes=1001, source=str(converted_thin), source_sha384="", calibration="24 images"
    )
    assert record.layout == PREPROCESSED_LAYOUT
    (folder / "quantized.json").write_text(json.dumps(dataclasses.asdict(record)))
    mark_owner(folder, "quantize", files=["model.xml", "model.bin", "quantized.json"])
    images = calibration_images(count=8).images
    run, _ = load_quantized(folder)
    fresh = inference_function(model, engine="openvino", precision="int8", calibration=calibration)
    np.testing.assert_allclose(
        run(images), fresh(images), rtol=0, atol=1e-4 * float(np.abs(fresh(images)).max())
    )
    capsys.readouterr()
    assert main(["eval", "--weights", str(folder), "--limit", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 10


@pytest.mark.slow
def test_quantized_model_misuse_is_one_line(quantized_folder, tmp_path, capsys):
    capsys.readouterr()
    assert main(["eval", "--weights", str(quantized_folder), "--engine", "keras"]) == 2
    assert "runs in int8 on OpenVINO only" in capsys.readouterr().err
    assert main(["eval", "--weights", str(quantized_folder), "--calibration", str(tmp_path)]) == 2
    assert "already quantized" in capsys.readouterr().err
    before = sorted(p.name for p in quantized_folder.iterdir())
    assert main(["quantize", "--weights", "imagenet", "--out", str(quantized_folder)]) == 2  # exists
    assert (
        "--overwrite" in capsys.readouterr().err
        and sorted(p.name for p in quantized_folder.iterdir()) == before
    )
    (tmp_path / "not_quantized").mkdir()
    from inception_v2.inference.quantized import load_quantized

    with pytest.raises(CheckpointError, match="not a quantized model"):
        load_quantized(tmp_path / "not_quantized")
    few = tmp_path / "few"
    few.mkdir()
    (few / "a.jpg").write_bytes(next(example_data_path().glob("val/ants/*")).read_bytes())
    argv = ["quantize", "--weights", "imagenet", "--calibration", str(few), "--calibration-size", "5"]
    assert main([*argv, "--out", str(tmp_path / "q")]) == 2
    assert "1 image files, 5 asked" in capsys.readouterr().err and not (tmp_path / "q").exists()


@pytest.mark.slow
def test_bench_races_a_saved_int8_model(quantized_folder, converted_thin, tmp_path, capsys):
    """bench --weights DIR: the saved model races as eval runs it; anything else is refused."""
    from inception_v2.bench.speed import SAVED_INT8, bench_backend

    result = bench_backend(
        str(converted_thin), [2], rounds=1, seconds=0.01, engines=(), saved_int8=str(quantized_folder)
    )
    assert list(result["throughput"]["2"]) == [SAVED_INT8] and result["throughput"]["2"][SAVED_INT8] > 0
    capsys.readouterr()
    assert main(["bench", "--int8-model", str(converted_thin), "--quick"]) == 2
    assert "not a quantized model" in capsys.readouterr().err
    assert main(["bench", "--weights", str(converted_thin), "--quick"]) == 2  # its earlier name
    assert "--int8-model" in capsys.readouterr().err
    assert main(["bench", "--weights", str(quantized_folder), "--engine", "keras", "--quick"]) == 2
    assert "runs on OpenVINO" in capsys.readouterr().err
