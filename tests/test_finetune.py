"""Fine-tuning: what trains, what stays frozen, resume after kill -9, curves, export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_in_process

from inception_v2.cli import main
from inception_v2.data.example_data import write_example_data
from inception_v2.data.training import make_dataset, scan_class_folders
from inception_v2.errors import DataError
from inception_v2.hub.models import InceptionV2ImageClassifier
from inception_v2.training.backup import BACKUP_FILE, backup_position
from inception_v2.training.classifier import build_classifier
from inception_v2.training.compiling import compile_classifier
from inception_v2.training.run import read_history

pytestmark = pytest.mark.slow  # trains, or runs several backends or commands: not in the quick subset


@pytest.fixture(scope="module")
def small_hymenoptera(tmp_path_factory) -> Path:
    """The bundled set (train/: 12 ants incl. a GIF, 12 bees; val/: 6 + 6) plus a text file named .jpg."""
    root = write_example_data(tmp_path_factory.mktemp("hymenoptera") / "ants_bees")
    (root / "train" / "ants" / "broken.jpg").write_text("not an image")
    return root


def _batch(data_dir: Path, n: int = 8):
    data = scan_class_folders(data_dir)
    images, labels = next(iter(make_dataset(data, n, training=False)))
    return images.numpy(), labels.numpy()


def _loss(model, images, labels) -> float:
    logits = model.predict(images, verbose=0)
    return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits))


def _compile(model, lr=1e-4, run_eagerly=False):
    # Features of random-weight checkpoints are large (norm ~250): Adam, small steps.
    compile_classifier(model, keras.optimizers.Adam(lr), run_eagerly=run_eagerly)


def _frozen_state(model) -> dict[str, np.ndarray]:
    return {
        v.path: np.array(v)
        for layer in model.layers
        if not layer.name.startswith("Logits")
        for v in layer.weights
    }


def test_head_only_lowers_loss_and_freezes_base(slim_checkpoints, small_hymenoptera):
    # No dropout and full batches: the loss on these images must fall step by step.
    model = build_classifier(
        2, weights=slim_checkpoints.path(depth_multiplier=0.25), train="head", dropout_keep_prob=1.0
    )
    assert [w.path for w in model.trainable_weights] == [
        "Logits__Conv2d_1c_1x1/kernel",
        "Logits__Conv2d_1c_1x1/bias",
    ]
    images, labels = _batch(small_hymenoptera / "val", 12)
    before_state = _frozen_state(model)
    before = _loss(model, images, labels)
    _compile(model, lr=3e-5)
    model.fit(images, labels, batch_size=12, epochs=5, verbose=0)
    assert _loss(model, images, labels) < before
    after_state = _frozen_state(model)
    assert all(np.array_equal(before_state[k], after_state[k]) for k in before_state)
    bn = model.get_layer("Mixed_4c__Branch_1__Conv2d_0a_1x1__BatchNorm")
    assert bn.trainable is False  # inference mode: moving statistics cannot move


def test_full_finetune_changes_base_and_batch_norm(slim_checkpoints, small_hymenoptera):
    model = build_classifier(
        2,
        weights=slim_checkpoints.path(depth_multiplier=0.25),
        train="all",
        train_batch_norm=True,
        batch_norm_momentum=0.5,
    )
    images, labels = _batch(small_hymenoptera / "train", 8)
    kernel = "Mixed_3b__Branch_0__Conv2d_0a_1x1"
    bn = model.get_layer(kernel + "__BatchNorm")
    before_kernel, before_mean = np.array(model.get_layer(kernel).kernel), np.array(bn.moving_mean)
    _compile(model, lr=1e-5, run_eagerly=True)
    model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert not np.allclose(before_kernel, model.get_layer(kernel).kernel)
    assert not np.allclose(before_mean, bn.moving_mean)
    assert model.losses, "slim's weight decay adds regularisation losses"


def test_train_from_end_point(slim_checkpoints):
    model = build_classifier(3, weights=slim_checkpoints.path(depth_multiplier=0.25), train="Mixed_5a")
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert (
        "Mixed_5b__Branch_0__Conv2d_0a_1x1" in trainable
        and "Mixed_4e__Branch_0__Conv2d_0a_1x1" not in trainable
    )
    assert not any(name.endswith("BatchNorm") for name in trainable)
    with pytest.raises(ValueError, match="Mixed_9z"):
        build_classifier(3, weights=None, train="Mixed_9z")


def test_mixed_precision_trains(slim_checkpoints, small_hymenoptera):
    model = build_classifier(
        2, weights=slim_checkpoints.path(depth_multiplier=0.25), train="head", dtype="mixed_bfloat16"
    )
    assert model.get_layer("Mixed_3b__Branch_0__Conv2d_0a_1x1").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"
    images, labels = _batch(small_hymenoptera / "train", 8)
    _compile(model)
    head = model.get_layer("Logits__Conv2d_1c_1x1")
    before = np.asarray(head.kernel).copy()
    history = model.fit(images, labels, batch_size=8, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(np.asarray(head.kernel) - before).max() > 0, "the steps trained the head"


def _finetune_command(data: Path, out: Path, weights: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "inception_v2",
        "finetune",
        "--data",
        str(data),
        "--out",
        str(out),
        "--weights",
        weights,
        "--epochs",
        "3",
        "--batch-size",
        "4",
        "--save-every",
        "1",
        "--max-steps-per-epoch",
        "4",
        "--no-color-distortion",
    ]


def _kill_after_a_new_backup(command: list[str], env: dict, out: Path, wanted) -> dict:
    """Start ``command``; SIGKILL it right after it writes a backup (a new file) whose position
    satisfies ``wanted``; that position."""
    path = out / "backup" / BACKUP_FILE
    before = path.stat().st_ino if path.exists() else None
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, position = time.time() + 400, None
    while time.time() < deadline and run.poll() is None:
        try:
            fresh = path.stat().st_ino != before
            position = backup_position(out / "backup") if fresh else None
        except (OSError, DataError):  # mid-rename
            position = None
        if position and wanted(position):
            run.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-epoch"
    return position


def test_resume_after_kill_9(slim_checkpoints, small_hymenoptera, tmp_path, capsys):
    out = tmp_path / "run"
    command = _finetune_command(small_hymenoptera, out, slim_checkpoints.path(depth_multiplier=0.25))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Killed in the middle of the second epoch, right after a step's backup ...
    killed_at = _kill_after_a_new_backup(command, env, out, lambda p: p["epoch"] == 1 and p["step"] >= 1)
    assert [int(r["epoch"]) for r in read_history(out / "history.csv")] == [1]  # counted from 1
    # ... and again, right after the resumed run's first backup: still the second epoch (Keras'
    # BackupAndRestore recorded epoch 0 here, and the next run started over from epoch 1).
    # Whichever of its step backups the poll catches first (step 1 on a quiet machine, a later
    # one on a busy one), it must still be the second epoch, not epoch 0.
    again = _kill_after_a_new_backup(command, env, out, lambda p: True)
    assert again["epoch"] == 1 and again["step"] >= 1, again

    second = run_in_process(capsys, *command[3:])  # the killed runs had processes of their own
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    # Progress on stderr (plain lines off a terminal), the summary alone on stdout.
    assert "Epoch 1/3" not in second.stderr and "Epoch 2/3" in second.stderr, second.stderr
    assert not any(c in second.stderr for c in "\x1b\b"), "no terminal control codes off a terminal"
    assert json.loads(second.stdout)["epochs"] == 3
    assert killed_at["epoch"] == 1 and killed_at["step"] >= 1
    assert [int(r["epoch"]) for r in read_history(out / "history.csv")] == [1, 2, 3]
    for name in ("last.keras", "last.weights.h5", "best.keras", "best.weights.h5", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs"
    assert not list(out.glob(".*.tmp*")), "no temporary files left"
    # Same command once more: nothing left to train, nothing retrained.
    third = run_in_process(capsys, *command[3:])
    assert third.returncode == 0 and "Epoch" not in third.stderr
    assert [int(r["epoch"]) for r in read_history(out / "history.csv")] == [1, 2, 3]
    # Other settings in the same folder are refused.
    assert main(["finetune", "--data", str(small_hymenoptera), "--out", str(out), "--epochs", "9"]) == 2
    # The finished run, written as a KerasHub preset too: its classes named on the model card.
    preset = tmp_path / "ants_bees_preset"
    assert main([*command[3:], "--preset", str(preset), "--quiet"]) == 0
    assert InceptionV2ImageClassifier.from_preset(str(preset)).num_classes == 2
    assert "classes (output index order): ants, bees" in (preset / "README.md").read_text()

    # The fine-tuned model evaluates on class folders by name.
    assert (
        main(
            [
                "eval",
                "--weights",
                str(out / "best.keras"),
                "--data",
                str(small_hymenoptera / "val"),
                "--quiet",
            ]
        )
        == 0
    )


def test_unreadable_training_files_are_reported(small_hymenoptera):
    data = scan_class_folders(small_hymenoptera / "train")
    assert [Path(p).name for p in data.unreadable] == ["broken.jpg"]
    assert any(Path(p).name == "imageNotFound.gif" for p in data.files)  # a GIF decodes fine


def test_every_finetune_option_reaches_the_run_settings():
    from inception_v2.cli import build_parser
    from inception_v2.cli.finetune import finetune_settings

    args = build_parser().parse_args(
        [
            "finetune",
            "--data",
            "d",
            "--out",
            "o",
            "--weights",
            "w",
            "--epochs",
            "7",
            "--batch-size",
            "3",
            "--train",
            "Mixed_5a",
            "--optimizer",
            "sgd",
            "--learning-rate",
            "0.5",
            "--momentum",
            "0.7",
            "--train-batch-norm",
            "--batch-norm-momentum",
            "0.9",
            "--no-color-distortion",
            "--validation-split",
            "0.3",
            "--save-every",
            "4",
            "--max-steps-per-epoch",
            "6",
            "--distribute",
            "mirrored",
            "--seed",
            "11",
        ]
    )
    settings = finetune_settings(args)
    assert (settings.optimizer, settings.learning_rate, settings.momentum) == ("sgd", 0.5, 0.7)
    assert (settings.data, settings.weights, settings.epochs, settings.batch_size, settings.train) == (
        "d",
        "w",
        7,
        3,
        "Mixed_5a",
    )
    assert (settings.train_batch_norm, settings.batch_norm_momentum, settings.color_distortion) == (
        True,
        0.9,
        False,
    )
    assert (settings.validation_split, settings.save_every, settings.max_steps_per_epoch) == (0.3, 4, 6)
    assert (settings.distribute, settings.seed, settings.dtype) == ("mirrored", 11, None)


def test_overwrite_clears_only_the_run_files(tmp_path):
    """What a run writes (its names written out here, not read from the code's tables) goes;
    a user's files beside them, in the run's own sub-folders too, stay byte for byte."""
    from inception_v2.training.run import run_folder

    ours = [
        "run.json", "classes.json", "state.json", "history.csv", "curves.png", "last.keras",
        "last.weights.h5", "best.keras", "best.weights.h5", ".best.keras.abc123.tmp.keras",
        "backup/state.h5", "backup/.state.h5.x1y2.tmp.h5",
        "logs/train/events.out.tfevents.1765000000.host.123.0.v2",
        "logs/validation/events.out.tfevents.1765000001.host.123.1.v2",
    ]  # fmt: skip
    users = ["my_notes.txt", "logs/notes.txt", "backup/notes.txt", "logs/train/mine.csv"]
    for name in ours + users:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"bytes of {name}")
    kept = run_folder(tmp_path).clear()
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(users)
    assert all((tmp_path / name).read_text() == f"bytes of {name}" for name in users)
    assert sorted(kept) == sorted(users[1:]), "the kept files in the run's folders are named"
    assert not (tmp_path / "logs" / "validation").exists(), "a folder the run emptied goes"


def test_one_epoch_curve_has_one_tick(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inception_v2.training.run import plot_history

    history = tmp_path / "history.csv"
    history.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n1,0.5,0.7,0.6,0.65\n")
    shown = []
    original = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        shown.extend(list(ax.get_xticks()) for ax in fig.axes)
        return original(fig, *args, **kwargs)

    plt.Figure.savefig = spy
    try:
        plot_history(history, tmp_path / "curves.png")
    finally:
        plt.Figure.savefig = original
    assert shown == [[1.0], [1.0]]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_truncated_jpeg_or_an_empty_class_is_named_not_dropped(small_hymenoptera, tmp_path):
    """The decode check is the one evaluation makes: a JPEG cut in half starts like a JPEG but
    does not decode, and is listed; a class folder left without a readable image is refused."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(small_hymenoptera / "train", root)
    whole = sorted((root / "bees").glob("*.jpg"))[0].read_bytes()
    (root / "bees" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    data = scan_class_folders(root)
    assert sorted(Path(p).name for p in data.unreadable) == ["broken.jpg", "truncated.jpg"]
    assert not any(p.endswith("truncated.jpg") for p in data.files)
    (root / "wasps").mkdir()
    (root / "wasps" / "notes.txt").write_text("no image here")
    with pytest.raises(DataError, match="wasps: a class folder without a readable image"):
        scan_class_folders(root)


def test_a_seeded_run_repeats(converted_thin, small_hymenoptera, tmp_path):
    """The same --seed twice: the same history, number for number (shuffle, augmentation with
    colour distortion, dropout); another seed: another history (the seed reaches the run)."""
    from inception_v2.training.run import RunSettings, finetune

    def history(seed: int, out: str, batch_size: int | None = 4, epochs: int = 2) -> list[dict]:
        settings = RunSettings(
            data=str(small_hymenoptera), weights=str(converted_thin), epochs=epochs, batch_size=batch_size,
            max_steps_per_epoch=3, image_size=96, seed=seed, train="Mixed_5c",
        )  # fmt: skip
        finetune(settings, tmp_path / out, verbose=0)
        return read_history(tmp_path / out / "history.csv")

    first, second, other = history(7, "a"), history(7, "b"), history(8, "c")
    from inception_v2.data.labels import labels_for

    for name in ("best.keras", "last.weights.h5"):  # copied away from classes.json, they keep names
        copy = tmp_path / "elsewhere" / name
        copy.parent.mkdir(exist_ok=True)
        copy.write_bytes((tmp_path / "a" / name).read_bytes())
        assert labels_for(copy, 2)[1] == ["ants", "bees"]
    history(7, "fitted", batch_size=None, epochs=1)  # no --batch-size: 32, or fewer images if fewer
    recorded = json.loads((tmp_path / "fitted" / "run.json").read_text())
    assert recorded["batch_size"] == 24  # the set's 24 readable training images (12 + 12)
    strip = [{k: v for k, v in row.items() if k != "time"} for row in first]
    assert [{k: v for k, v in row.items() if k != "time"} for row in second] == strip
    assert [row["loss"] for row in other] != [row["loss"] for row in first]
