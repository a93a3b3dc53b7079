"""The command line as a user meets it: each mistake one line and exit 2, nothing left behind;
quiet, parseable output; one vocabulary. The real command runs in a subprocess where the
process is what is tested (the parser's exit, TensorFlow's C++ noise on file descriptor 2, the
scripts); elsewhere ``main`` runs in this process, the same code without a new interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import one_error_line, run_in_process
from conftest import run_command as cli

from inception_v2.data.example_data import write_example_data
from inception_v2.data.labels import data_path

SAMPLE = data_path("imagenet_val_sample")
NOISE = ("absl::InitializeLog", "cuda drivers", "oneDNN custom operations", "Traceback", "Warning")


@pytest.fixture(scope="module")
def fine_tuned(slim_checkpoints, tmp_path_factory) -> Path:
    """What finetune leaves: a 2-class best.keras and classes.json side by side."""
    import numpy as np

    from inception_v2.training.classifier import build_classifier
    from inception_v2.weights.keras_files import save_weights

    run = tmp_path_factory.mktemp("run")
    model = build_classifier(2, weights=slim_checkpoints.path(depth_multiplier=0.25))
    head = model.get_layer("Logits__Conv2d_1c_1x1")
    head.set_weights(
        [np.random.default_rng(0).normal(0, 0.01, w.shape).astype("float32") for w in head.get_weights()]
    )
    save_weights(model, run / "best.keras", {})
    (run / "classes.json").write_text(json.dumps(["ants", "bees"]))
    return run / "best.keras"


@pytest.fixture(scope="module")
def ants_bees(tmp_path_factory) -> Path:
    return write_example_data(tmp_path_factory.mktemp("data") / "ants_bees")


# ----------------------------------------------------------------------------- usage mistakes


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["eval", "--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
        (["eval", "--limit", "-5"], "--limit: must be at least 1, got -5"),
        (["eval", "--limit", "0"], "--limit: must be at least 1"),
        (["eval", "--precision", "fp16"], "invalid choice: 'fp16'"),
        (["predict", "x.jpg", "--top", "0"], "--top: must be at least 1"),
        (["finetune", "--data", "d", "--out", "o", "--epochs", "0"], "--epochs: must be at least 1"),
        (
            ["convert", "a", "b.keras", "--verify", "--verify-batch", "0"],
            "--verify-batch: must be at least 1",
        ),
        (["bench", "--rounds", "0"], "--rounds: must be at least 1"),
        (["bn-study", "--steps", "0"], "--steps: must be at least 1, got 0"),
        (["bn-study", "--learning-rate", "-0.1"], "--learning-rate: must be greater than 0, got -0.1"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(args, fragment, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "inception_v2", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    one_error_line(done, fragment, "--help")
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_a_mistake_is_one_line_a_bug_keeps_its_traceback(monkeypatch, capsys):
    """Only the library's InputError kinds (and the file system's) mean bad input."""
    from inception_v2 import cli, errors
    from inception_v2.cli import example_data

    def mistake(args):
        raise errors.DataError("somewhere: not what was asked")

    def bug(args):
        raise ValueError("a bug deep in a library")

    monkeypatch.setattr(example_data, "run", mistake)
    assert cli.main(["example-data", "x"], standalone=False) == 2
    expected = "inception-v2 example-data: error: somewhere: not what was asked"
    assert capsys.readouterr().err.strip() == expected
    monkeypatch.setattr(example_data, "run", bug)
    with pytest.raises(ValueError, match="a bug deep in a library"):
        cli.main(["example-data", "x"], standalone=False)

    # The file system's word counts as the user's only on a path the user named.
    def missing(path):
        def run(args):
            raise FileNotFoundError(2, "No such file or directory", path)

        return run

    monkeypatch.setattr(example_data, "run", missing("x/inside/file.txt"))
    assert cli.main(["example-data", "x"], standalone=False) == 2
    assert "x/inside/file.txt" in capsys.readouterr().err
    monkeypatch.setattr(example_data, "run", missing("/usr/lib/some/library/file.so"))
    with pytest.raises(FileNotFoundError):
        cli.main(["example-data", "x"], standalone=False)
    # Each kind is also the built-in exception a Python caller would catch.
    assert issubclass(errors.MissingFile, FileNotFoundError) and issubclass(errors.MissingExtra, ImportError)
    assert issubclass(errors.CheckpointError, ValueError) and issubclass(errors.OutputExists, FileExistsError)


def test_help_version_and_commands(capsys):
    done = cli("--help")
    assert done.returncode == 0
    for command in ("convert", "eval", "predict", "finetune", "bn-study", "export", "bench", "example-data"):
        assert f"\n  {command} " in done.stdout, command
    assert "exit codes" in done.stdout
    assert cli("--version").stdout.startswith("inception-v2 ")
    from inception_v2.cli import main

    def help_of(command: str) -> str:  # the parser's own --help, in this process
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        return " ".join(capsys.readouterr().out.split())

    for command in ("convert", "eval", "predict", "finetune", "export", "bench"):
        text = help_of(command)
        assert "--quiet" in text and "--verbose" in text, command
    eval_help = help_of("eval")
    assert "(default: 50)" in eval_help and "(default: None)" not in eval_help
    assert "(default: imagenet)" in help_of("export")  # as elsewhere


# ----------------------------------------------------------------------------- finetune


@pytest.mark.slow
def test_failed_finetune_leaves_out_as_it_was(slim_checkpoints, ants_bees, tmp_path, capsys):
    out = tmp_path / "runs" / "b"
    done = run_in_process(
        capsys,
        "finetune",
        "--data",
        ants_bees,
        "--out",
        out,
        "--weights",
        slim_checkpoints.path(depth_multiplier=0.25),
        "--batch-size",
        32,
    )
    one_error_line(done, "24 training images, fewer than one batch of 32", "--batch-size")
    assert not out.exists() and not out.parent.exists()
    one_error_line(
        run_in_process(capsys, "finetune", "--data", tmp_path / "nothing", "--out", out),
        "no such data directory",
    )
    assert not out.parent.exists()


# ----------------------------------------------------------------------------- bn-study


def test_bn_study_bad_data_and_settings_write_nothing(tmp_path, capsys):
    """In process (the parser and the checks run before any TensorFlow work): one line, exit 2."""
    from inception_v2.cli import main

    out = tmp_path / "study"

    def refused(*args, expected):
        assert main(["bn-study", *map(str, args)], standalone=False) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines

    refused("--data", tmp_path / "nothing", "--out", out, expected="nothing: no such data directory")
    one_class = tmp_path / "one_class"
    write_example_data(tmp_path / "ants_bees")
    (one_class / "ants").mkdir(parents=True)
    for image in (tmp_path / "ants_bees" / "train" / "ants").iterdir():
        (one_class / "ants" / image.name).write_bytes(image.read_bytes())
    refused("--data", one_class, "--out", out, expected="1 class folder; a study needs at least 2 classes")
    not_images = tmp_path / "not_images"
    for name in ("a", "b"):
        (not_images / name).mkdir(parents=True)
        (not_images / name / "notes.jpg").write_text("not a JPEG")
    refused("--data", not_images, "--out", out, expected="not_images: the class folders hold no readable")
    refused("--variants", "BN-x5,BN-x50", "--out", out, expected="unknown variants ['BN-x50']")
    assert not out.exists()
    # A folder holding a study with other settings is refused, untouched.
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"steps": 10}))
    refused("--out", out, expected="holds a bn-study run with other settings (steps: 10 -> 2000")
    assert [p.name for p in out.iterdir()] == ["settings.json"]


# ----------------------------------------------------------------------------- eval


@pytest.mark.slow
def test_eval_quiet_parseable_and_named(fine_tuned, ants_bees, tmp_path, capsys):
    report = tmp_path / "r.json"
    done = cli("eval", "--weights", fine_tuned, "--data", ants_bees / "val", "--report", report, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not any(noise in done.stderr for noise in NOISE), done.stderr
    printed = json.loads(done.stdout)  # stdout is the JSON report and nothing else
    assert printed == json.loads(report.read_text())
    assert printed["top5"] is None, "2 classes: top-5 says nothing"
    assert set(printed["per_class"]) == {"ants", "bees"}
    assert printed["per_class"]["ants"]["total"] == 6
    table = run_in_process(capsys, "eval", "--weights", fine_tuned, "--data", ants_bees / "val", "--quiet")
    assert "top-1 accuracy" in table.stdout and "top-5" not in table.stdout
    assert table.stderr == ""  # --quiet: no progress


@pytest.mark.slow
def test_eval_two_class_model_on_imagenet_data(fine_tuned, capsys):
    one_error_line(
        run_in_process(capsys, "eval", "--weights", fine_tuned, "--limit", "2"),
        "2-class model",
        "own class folders",
    )


@pytest.mark.slow
def test_eval_on_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    csv = tmp_path / "predictions.csv"
    csv.write_text("id,label\n")
    done = run_in_process(capsys, "eval", "--weights", csv)
    line = one_error_line(done, str(csv), "not in TensorFlow's checkpoint format")
    assert "magic number" not in line


def test_existing_output_says_which_option(tmp_path, capsys):
    report = tmp_path / "r.json"
    report.write_text("mine")
    weights = tmp_path / "w.weights.h5"  # never read: the output is refused before any work
    weights.write_bytes(b"w")
    one_error_line(
        run_in_process(capsys, "eval", "--weights", weights, "--report", report),
        "already exists",
        "--overwrite",
    )
    assert report.read_text() == "mine"


# ----------------------------------------------------------------------------- predict


@pytest.mark.slow
def test_predict_fine_tuned_folder_and_undecodable(fine_tuned, ants_bees, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for src in sorted((ants_bees / "val" / "ants").iterdir())[:2]:
        (folder / src.name).write_bytes(src.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    done = run_in_process(capsys, "predict", folder, "--weights", fine_tuned, "--json", "--top", "5")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) == 2  # the two good images, the broken one skipped
    assert all(len(r["top"]) == 2 for r in results)  # --top is capped by the 2 classes
    assert {e["name"] for r in results for e in r["top"]} == {"ants", "bees"}  # from classes.json
    assert done.stderr.strip().splitlines() == [
        f"skipped: {folder / 'broken.jpg'}: cannot be decoded as an image"
    ]


def test_predict_nothing_decodable(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("no")
    one_error_line(run_in_process(capsys, "predict", bad, "--quiet"), "no image could be decoded")


# ----------------------------------------------------------------------------- export, convert


def test_export_format_follows_the_extension(tmp_path, capsys):
    from inception_v2.export.artifacts import format_for

    assert format_for("m.tflite") == "litert" and format_for("m.onnx") == "onnx"
    assert format_for("served/m") == "savedmodel" and format_for("m.tflite", "litert") == "litert"
    assert format_for("served/model.v2", "savedmodel") == "savedmodel"  # asked for: any folder name
    out = tmp_path / "m.tflite"
    one_error_line(run_in_process(capsys, "export", "--out", out, "--format", "onnx"), "m.tflite", "onnx")
    assert format_for("m.xml") == "openvino"
    # an extension no format writes was a SavedModel folder named model.pb; now one line
    pb = tmp_path / "model.pb"
    one_error_line(run_in_process(capsys, "export", "--out", pb), "model.pb: export writes no .pb file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_convert_verify_message_names_the_relative_tolerance(slim_checkpoints, tmp_path):
    done = cli(
        "convert",
        slim_checkpoints.path(depth_multiplier=0.25),
        tmp_path / "m.weights.h5",
        "--verify",
        "--verify-batch",
        "1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "x max(1, max |slim|)" in done.stdout
    assert not any(noise in done.stderr for noise in NOISE), done.stderr


@pytest.mark.slow
def test_scripts_are_the_same_quiet_command(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "eval_imagenet.py"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, str(script), "--weights", str(tmp_path / "missing.ckpt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    one_error_line(done, "missing.ckpt", "no such checkpoint")


def test_existing_outputs_are_refused_before_any_work(tmp_path, capsys):
    """One rule (files.refuse_existing) for every command's outputs: one line, exit 2, untouched."""
    from inception_v2.cli import main

    v1 = tmp_path / "v1.ckpt"
    v2 = tmp_path / "v2.ckpt"
    saved = tmp_path / "saved_model"
    v1.write_text("mine")
    (tmp_path / "v2.ckpt.index").write_text("mine")
    saved.mkdir()
    cases = [
        (["make-test-checkpoint", str(v1)], f"{v1}: already exists; name a new checkpoint"),
        (["make-test-checkpoint", str(v2)], f"{v2}.index: already exists; name a new checkpoint"),
        (["export", "--weights", "unused.weights.h5", "--out", str(saved)], f"{saved}: already exists"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert v1.read_text() == "mine" and list(saved.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved_model", "v1.ckpt", "v2.ckpt.index"]
