"""What people do to a command line in real life loses nothing: ``--overwrite`` on a folder the
command did not write, two runs on one folder, Ctrl-C, a closed pipe, bad outputs found only
at the end. Each case checks the exit code, the one line on stderr, and the folders
afterwards. What a process goes through (signals, a closed pipe, TensorFlow's own output,
another backend) runs the real command in a subprocess; the rest runs ``main`` in this one."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import command, command_env, one_error_line, run_in_process
from conftest import run_command as cli

from inception_v2.data.example_data import write_example_data
from inception_v2.data.labels import data_path

SAMPLE = data_path("imagenet_val_sample")


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (what "untouched" is compared on)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def start_and_interrupt(
    args: list, started: str, on_stdout: bool = False, **env
) -> subprocess.CompletedProcess:
    """Start the command, wait until a line of its stderr (or stdout) holds ``started`` (a
    blocking read, not a timer), send SIGINT; the finished process."""
    process = subprocess.Popen(
        command(*args), env=command_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen = []
    for line in process.stdout if on_stdout else process.stderr:
        seen.append(line)
        if started in line:
            break
    else:
        pytest.fail(f"never saw {started!r}: {''.join(seen)[-3000:]}")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(seen) + stdout, stderr)


@pytest.fixture(scope="module")
def ants_bees(tmp_path_factory) -> Path:
    return write_example_data(tmp_path_factory.mktemp("data") / "ants_bees")


@pytest.fixture(scope="module")
def many_images(tmp_path_factory) -> Path:
    """A class folder of 2,000 links to the bundled images: work that outlasts any signal."""
    root = tmp_path_factory.mktemp("many")
    folder = root / "n01440764"
    folder.mkdir()
    sample = sorted(SAMPLE.iterdir())
    for i in range(2000):
        (folder / f"{i:05d}.JPEG").symlink_to(sample[i % len(sample)])
    return root


# ----------------------------------------------------------------------------- --overwrite


def test_overwrite_does_not_replace_a_folder_the_command_did_not_write(tmp_path, capsys):
    """export --out onto a fine-tuning run's own folder deleted the run. Now: refused, untouched
    (before any work: the weights, named but never read, are a stand-in)."""
    converted_thin = tmp_path / "weights.weights.h5"
    converted_thin.write_bytes(b"never read")
    run = tmp_path / "runs" / "g"
    run.mkdir(parents=True)
    for name, text in (("best.keras", "model"), ("history.csv", "epoch\n1"), ("run.json", "{}")):
        (run / name).write_text(text)
    before = tree(run)
    line = one_error_line(
        run_in_process(capsys, "export", "--weights", converted_thin, "--out", run, "--overwrite"),
        f"{run}: not a folder that inception-v2 export wrote; refusing to replace it",
    )
    assert ".tmp" not in line
    assert tree(run) == before
    # A file where export writes a folder, and a folder where it writes a file: refused too.
    (tmp_path / "a_file").write_text("mine")
    one_error_line(
        run_in_process(capsys, "export", "--out", tmp_path / "a_file", "--overwrite"),
        "is a file, expected a folder",
    )
    (tmp_path / "m.tflite").mkdir()
    one_error_line(
        run_in_process(capsys, "export", "--out", tmp_path / "m.tflite", "--overwrite"),
        "is a folder, expected a file",
    )
    assert (tmp_path / "a_file").read_text() == "mine" and not any((tmp_path / "m.tflite").iterdir())


def test_overwrite_replaces_the_commands_own_export(tmp_path, caplog):
    """The folder export wrote carries its mark; --overwrite replaces it, and only it."""
    import keras

    from inception_v2.errors import OutputError, OutputExists
    from inception_v2.export.artifacts import export
    from inception_v2.files import OWNER_MARK, owner_of

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(inputs)))
    out = tmp_path / "served"
    export(model, out, source="first")
    assert owner_of(out) == "export" and (out / "saved_model.pb").exists()
    assert json.loads((out / OWNER_MARK).read_text())["weights"] == "first"
    with pytest.raises(OutputExists):
        export(model, out)
    (out / "NOTES.md").write_text("my notes")
    (out / "variables" / "mine.txt").write_text("inside the command's own sub-folder")
    (out / "empty").mkdir()
    written = sorted(json.loads((out / OWNER_MARK).read_text())["files"])
    assert "saved_model.pb" in written and "NOTES.md" not in written
    with caplog.at_level(logging.INFO, logger="inception_v2"):
        export(model, out, overwrite=True, source="second")
    assert f"{out}: kept 2 file(s) that inception-v2 export did not write: NOTES.md, variables/mine.txt" in [
        r.getMessage() for r in caplog.records
    ]
    assert json.loads((out / OWNER_MARK).read_text())["weights"] == "second"
    assert (out / "NOTES.md").read_text() == "my notes", "a user's file survives --overwrite"
    assert (out / "variables" / "mine.txt").read_text() == "inside the command's own sub-folder"
    assert (out / "empty").is_dir()
    assert sorted(json.loads((out / OWNER_MARK).read_text())["files"]) == written, "the user's not listed"
    assert not [p.name for p in tmp_path.iterdir() if p.name != "served"], "no staging left"
    (out / "saved_model.pb").rename(out / "keep.pb")
    (out / "saved_model.pb").write_text("a user's file under the output's name")
    mark = json.loads((out / OWNER_MARK).read_text())
    mark["files"].remove("saved_model.pb")
    (out / OWNER_MARK).write_text(json.dumps(mark))
    with pytest.raises(OutputError, match="saved_model.pb: a file inception-v2 did not write"):
        export(model, out, overwrite=True)
    assert (out / "saved_model.pb").read_text() == "a user's file under the output's name"
    del mark["files"]  # a mark of an older version, without its list
    (out / OWNER_MARK).write_text(json.dumps(mark))
    with pytest.raises(OutputError, match="did not list its files"):
        export(model, out, overwrite=True)
    (out / OWNER_MARK).unlink()  # no longer recognisably the command's own
    with pytest.raises(OutputError, match="not a folder that inception-v2 export wrote"):
        export(model, out, overwrite=True)
    assert (out / "saved_model.pb").exists()


# ----------------------------------------------------------------------------- run folders


@pytest.mark.slow
def test_a_fine_tuning_run_through_what_people_do_to_it(slim_checkpoints, ants_bees, tmp_path, capsys):
    """One run folder through a second run started on it while it is live (refused, naming the
    live one), Ctrl-C (one line; the rerun resumes), `data/` for `data` (the same run), a rerun
    of the finished run (reported complete, nothing trained), more --epochs (continues), and
    --overwrite over a folder no run could resume (afresh; the user's own file kept). The run
    that is stopped runs in a process of its own; the reruns run in this one."""
    out = tmp_path / "run"
    base = slim_checkpoints.path(depth_multiplier=0.25)  # a slim-shaped network, four times thinner
    args = [
        "finetune", "--data", ants_bees, "--out", out, "--weights", base,
        "--batch-size", "4", "--max-steps-per-epoch", "3", "--save-every", "1", "--no-color-distortion",
    ]  # fmt: skip
    live = subprocess.Popen(
        command(*args, "--epochs", "3"),
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in live.stderr:  # Keras' "Epoch 1/3" header: the run holds its folder and trains
        if line.startswith("Epoch 1/3"):
            break
    live.send_signal(signal.SIGSTOP)  # held still (its lock with it) while a second one starts
    try:
        second = run_in_process(capsys, *args, "--epochs", "3")
    finally:
        live.send_signal(signal.SIGCONT)
    one_error_line(second, f"{out}: in use by a live run (pid {live.pid} on ", "use another --out")
    for line in live.stderr:
        if line.startswith("Epoch 2/3"):
            break
    live.send_signal(signal.SIGINT)
    _, live_err = live.communicate(timeout=600)
    interrupted = subprocess.CompletedProcess(live.args, live.returncode, "", live_err)
    one_line_after_progress(
        interrupted, "inception-v2 finetune: interrupted; rerun the same command to resume"
    )
    assert not list(out.rglob(".*.tmp*")) and not (out / ".lock").exists(), "no temporary files, no lock"

    same_data = f"{ants_bees}/"  # the same folder, spelled otherwise
    resumed = run_in_process(capsys, *args[:2], same_data, *args[3:], "--epochs", "3")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        "resuming" in resumed.stderr and "Epoch 1/3" not in resumed.stderr and "Epoch 3/3" in resumed.stderr
    )
    epochs = [line.split(",")[0] for line in (out / "history.csv").read_text().splitlines()]
    assert epochs[0] == "epoch" and epochs.count("epoch") == 1 and epochs[-1] == "3"

    finished = run_in_process(capsys, *args, "--epochs", "3")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Epoch" not in finished.stderr and "complete, 3 epochs trained" in finished.stderr
    result = json.loads(finished.stdout)
    assert result["epochs_run"] == 0 and result["final"] == json.loads(resumed.stdout)["final"]
    assert {"loss", "val_accuracy"} <= set(result["final"])

    more = run_in_process(capsys, *args, "--epochs", "4")
    assert more.returncode == 0, more.stderr[-3000:]
    assert json.loads(more.stdout)["epochs_run"] == 1 and "Epoch 4/4" in more.stderr
    assert [line.split(",")[0] for line in (out / "history.csv").read_text().splitlines()][-1] == "4"

    (out / "my_notes.txt").write_text("keep me")
    (out / "history.csv").write_text("epoch,loss\nepoch,loss\n1,x\n")  # a state no run can resume
    afresh = run_in_process(capsys, *args, "--epochs", "1", "--overwrite")
    assert afresh.returncode == 0, afresh.stderr[-3000:]
    assert json.loads(afresh.stdout)["epochs_run"] == 1
    assert (out / "my_notes.txt").read_text() == "keep me"
    assert [line.split(",")[0] for line in (out / "history.csv").read_text().splitlines()] == ["epoch", "1"]


def test_a_folder_of_someone_elses_files_is_not_a_run(tmp_path):
    """Without a run's record, files of the run's names are the user's: refused, untouched."""
    from inception_v2.errors import OutputError
    from inception_v2.training.run import run_folder

    (tmp_path / "history.csv").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match=r"holds history.csv but no run.json"):
            run_folder(tmp_path).check({"epochs": 1}, overwrite=overwrite)
    assert (tmp_path / "history.csv").read_text() == "mine"
    with pytest.raises(OutputError, match="history.csv: is a file, expected a folder"):
        with run_folder(tmp_path / "history.csv").lock():
            pass
    assert (tmp_path / "history.csv").read_text() == "mine"


def test_a_lock_left_by_a_killed_run_does_not_block(tmp_path):
    """A live holder is named; once it is killed with SIGKILL the folder is free at once."""
    from inception_v2.errors import RunInUse
    from inception_v2.training.run import run_folder

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # The lock alone (run_folder.RunFolder, which finetune's folders are): no TensorFlow to import.
            "import sys; from pathlib import Path; from inception_v2.training.run_folder import RunFolder\n"
            f"with RunFolder(Path({str(tmp_path)!r}), 'finetune', 'run.json', (), ()).lock():\n"
            "    print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RunInUse, match=rf"in use by a live run \(pid {holder.pid} on "):
        with run_folder(tmp_path).lock():
            pass
    holder.kill()
    holder.wait()
    assert (tmp_path / ".lock").exists(), "SIGKILL left its lock file behind"
    with run_folder(tmp_path).lock():
        assert f"pid {os.getpid()}" in (tmp_path / ".lock").read_text()
    assert not (tmp_path / ".lock").exists()


# ----------------------------------------------------------------------------- Ctrl-C, closed pipes


@pytest.mark.slow
def test_ctrl_c_during_eval_is_one_line_and_writes_nothing(converted_thin, many_images, tmp_path):
    report = tmp_path / "r.json"
    args = [
        "eval",
        "--weights",
        converted_thin,
        "--data",
        many_images,
        "--batch-size",
        "8",
        "--report",
        report,
    ]
    done = start_and_interrupt(args, "img/s")
    one_line_after_progress(done, "inception-v2 eval: interrupted; no output was written")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_predict(converted_thin, many_images):
    args = ["predict", many_images / "n01440764", "--weights", converted_thin, "--batch-size", "4"]
    done = start_and_interrupt(args, "00000.JPEG", on_stdout=True)  # the first result printed
    one_error_line(done, "inception-v2 predict: interrupted; the images shown were classified", code=130)


@pytest.mark.slow
def test_ctrl_c_stops_bn_study(tmp_path):
    """It used to print "Exception ignored in: <function _xla_gc_callback>" and run on."""
    out = tmp_path / "study"
    args = ["bn-study", "--out", out, "--steps", "400", "--eval-every", "200", "--depth-multiplier", "0.1"]
    done = start_and_interrupt(args, "img/s")
    one_line_after_progress(done, "inception-v2 bn-study: interrupted; rerun the same command to resume")
    assert "Exception ignored" not in done.stderr
    assert not (out / "table.csv").exists() and not list(out.rglob(".*.tmp*"))


def one_line_after_progress(done: subprocess.CompletedProcess, message: str) -> None:
    """Exit 130; after the progress lines, exactly ``message``; no traceback."""
    assert done.returncode == 130, (done.returncode, done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == message, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly(converted_thin):
    """`predict ... | head -1`: the reader goes away; no BrokenPipeError traceback."""
    images = sorted(SAMPLE.iterdir())[:8]
    process = subprocess.Popen(
        command(
            "predict", *images, "--weights", converted_thin, "--top", "1001", "--batch-size", "2", "--quiet"
        ),
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == str(images[0])
    process.stdout.close()  # 8 x 1001 lines do not fit in a pipe: the writer meets the closed end
    stderr = process.stderr.read()
    assert process.wait(timeout=600) == 141, stderr
    assert stderr == "", stderr


def _with_stdout_closed(args: list, **env) -> subprocess.CompletedProcess:
    """Run the command with its reader of stdout gone before the first line (`| head -0`), and
    stdout unbuffered as PYTHONUNBUFFERED=1 (common in containers) makes it: every print meets
    the closed end at once."""
    process = subprocess.Popen(
        args, env=command_env(PYTHONUNBUFFERED="1", **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    stderr = process.stderr.read().decode()
    return subprocess.CompletedProcess(args, process.wait(timeout=600), "", stderr)


@pytest.mark.slow
def test_eval_writes_every_file_asked_for_before_a_closed_pipe_stops_it(converted_thin, tmp_path):
    """`eval --report R --plot P | head`: the table is printed last, so the files are written."""
    report, plot = tmp_path / "r.json", tmp_path / "p.png"
    args = ["eval", "--weights", converted_thin, "--limit", "4", "--report", report, "--plot", plot]
    done = _with_stdout_closed(command(*args, "--quiet"))
    assert done.returncode == 141 and done.stderr == "", done.stderr[-3000:]
    assert json.loads(report.read_text())["count"] == 4
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_writes_its_report_before_a_closed_pipe_stops_it(tmp_path):
    """`bench --report R | head`: the report is written before the table (the measurement
    itself is replaced here: what is tested is the order)."""
    report = tmp_path / "bench.json"
    fake = {"machine": {"cpus": 2}, "backends": [{"backend": "tensorflow", "throughput": {}, "ratio": {}}]}
    probe = (
        "import json, sys; import inception_v2.bench.race as bench; "
        f"bench.run = lambda **_: {fake!r}; bench.format_report = lambda report: 'table\\n' * 1000; "
        "from inception_v2.cli import main; sys.exit(main(sys.argv[1:], standalone=True))"
    )
    done = _with_stdout_closed(
        [sys.executable, "-c", probe, "bench", "--quick", "--quiet", "--report", str(report)]
    )
    assert done.returncode == 141 and done.stderr == "", done.stderr[-3000:]
    assert json.loads(report.read_text()) == fake


# ----------------------------------------------------------------------------- checked before the work


def test_bad_outputs_are_refused_before_the_work_and_leave_nothing(tmp_path):
    """Each refused before TensorFlow or Keras is imported (so before any model or data), in
    one line that names the path the user gave and never a temporary file."""
    (tmp_path / "p.csv").write_text("mine")
    (tmp_path / "adir").mkdir()
    cases = [
        (["eval", "--report", "/proc/r.json"], "/proc/r.json: cannot write in /proc"),
        (["eval", "--report", "p.csv/r.json"], "p.csv is a file, not a folder"),
        (["eval", "--report", "adir"], "adir: is a folder, expected a file name"),
        (["eval", "--report", "newdir/sub/r.json", "--data", "nothere"], "nothere: no such data"),
        (["predict", "nonexistent.jpg"], "nonexistent.jpg: no such image file or folder"),
        (["bench", "--backends", "tensorflw", "--quick"], "--backends: unknown tensorflw"),
        (["bench", "--report", "adir"], "adir: is a folder"),
    ]
    probe = (
        "import sys; from inception_v2.cli import main; status = main(sys.argv[1:], standalone=True); "
        "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules]; "
        "print('imported:', heavy, file=sys.stderr) if heavy and status == 2 else None; sys.exit(status)"
    )
    for args, fragment in cases:
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=tmp_path,
            env=command_env(),
            capture_output=True,
            text=True,
        )
        line = one_error_line(done, fragment)
        assert ".tmp" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "p.csv"], "nothing created"
    assert (tmp_path / "p.csv").read_text() == "mine"


def test_option_values_and_missing_extras_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    one_error_line(
        run_in_process(
            capsys, "finetune", "--data", "d", "--out", "o", "--optimizer", "sgd", "--momentum", "-3"
        ),
        "--momentum must be in [0, 1), got -3.0",
    )
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx -> ImportError
    done = run_in_process(capsys, "export", "--out", "m.onnx")
    one_error_line(
        done,
        "ONNX export needs tf2onnx, onnx and onnxruntime",
        'pip install "inception_v2[export]"',
        '-e ".[export]"',
    )
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- predict


@pytest.mark.slow
def test_predict_reads_folders_as_files_recursively_and_webp(converted_thin, tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    first, second = sorted(SAMPLE.iterdir())[:2]
    Image.open(first).save(images / "a.webp", "WEBP")
    (images / "sub" / "b.JPEG").write_bytes(second.read_bytes())
    (images / "c.png").write_text("not an image")
    webp = images / "a.webp"
    flat = run_in_process(
        capsys, "predict", images, webp, "--weights", converted_thin, "--json", "--top", "1"
    )
    assert flat.returncode == 0, flat.stderr[-3000:]
    found = json.loads(flat.stdout)
    assert [r["image"] for r in found] == [str(webp), str(webp)]  # in its folder, then named
    assert found[0]["top"] == found[1]["top"], "the folder's WebP is read as the named one"
    assert flat.stderr.strip().splitlines() == [f"skipped: {images / 'c.png'}: cannot be decoded as an image"]
    deep = run_in_process(
        capsys, "predict", images, "--recursive", "--weights", converted_thin, "--json", "--top", "1"
    )
    assert deep.returncode == 0, deep.stderr[-3000:]
    assert [r["image"] for r in json.loads(deep.stdout)] == [str(webp), str(images / "sub" / "b.JPEG")]


@pytest.mark.slow
def test_torch_backend_eval_has_no_tracer_warnings(converted_thin):
    done = cli(
        "eval", "--weights", converted_thin, "--limit", "4", "--batch-size", "2", KERAS_BACKEND="torch"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TracerWarning" not in done.stderr and "Warning" not in done.stderr, done.stderr


# ----------------------------------------------------------------------------- refused before the work


def test_an_int8_model_refuses_what_it_cannot_do_before_any_work(tmp_path, capsys):
    """A saved int8 model (recognised by its record) with Grad-CAM, another precision, --fast or
    explain: one line each, before data or model are read; nothing written."""
    int8 = tmp_path / "int8_model"
    int8.mkdir()
    (int8 / "quantized.json").write_text("{}")
    sheet, report = tmp_path / "mistakes.png", tmp_path / "r.json"
    for args, fragment in (
        (
            ("eval", "--weights", int8, "--mistakes", 3, "--out-mistakes", sheet, "--report", report),
            "Grad-CAM",
        ),
        (
            ("eval", "--weights", int8, "--precision", "float32", "--report", report),
            "not --precision float32",
        ),
        (("eval", "--weights", int8, "--fast"), "not --fast"),
        (("predict", SAMPLE, "--weights", int8, "--engine", "keras"), "not --engine keras"),
        (("explain", SAMPLE, "--weights", int8, "--out", tmp_path / "why"), "no gradients for Grad-CAM"),
    ):
        one_error_line(run_in_process(capsys, *args), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8_model"]


def test_explain_offers_only_the_end_points_it_can_map(tmp_path, capsys):
    """Logits and Predictions have no spatial map: not offered, and refused by the parser."""
    from inception_v2.cli import main

    for end_point in ("Logits", "Predictions"):
        with pytest.raises(SystemExit) as refused:
            main(["explain", str(SAMPLE), "--out", str(tmp_path / "why"), "--end-point", end_point])
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert refused.value.code == 2 and f"invalid choice: '{end_point}'" in line
        assert "Mixed_5c" in line and "Logits" not in line.split("choose from")[-1]
    assert not (tmp_path / "why").exists()


def test_a_keras_file_of_another_network_is_named(tmp_path, capsys):
    import keras

    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(other)
    one_error_line(run_in_process(capsys, "eval", "--weights", other), f"{other}: ", "not an Inception V2")
    fake = tmp_path / "fake.tar.gz"
    fake.write_text("not a tarball")
    one_error_line(run_in_process(capsys, "eval", "--weights", fake), f"{fake}: not a readable tar archive")


@pytest.mark.slow
def test_ctrl_c_after_the_report_says_it_was_written(converted_thin, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the plot is drawn, after the report was written: the line names the report
    (it was whole), not 'no output was written'; the plot is not there."""
    from inception_v2.evaluation import evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluate, "plot_per_class", interrupted)
    report, plot = tmp_path / "r.json", tmp_path / "p.png"
    done = run_in_process(
        capsys,
        "eval",
        "--weights",
        converted_thin,
        "--limit",
        2,
        "--report",
        report,
        "--plot",
        plot,
        "--quiet",
    )
    assert done.returncode == 130
    assert (
        done.stderr.strip().splitlines()[-1]
        == f"inception-v2 eval: interrupted; wrote {report}; nothing else"
    )
    assert json.loads(report.read_text())["count"] == 2 and not plot.exists()
