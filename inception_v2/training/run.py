"""``inception-v2 finetune``: a resumable fine-tuning run with curves and saved models.

Everything lives in one output folder:

- ``run.json``: the run's settings (a resumed run must use the same ones);
- ``backup/``: weights, optimizer state and position in one file, saved every ``save_every``
  steps and at each epoch end, renamed into place (``inception_v2.training.backup``);
- ``history.csv``, ``curves.png`` (loss and accuracy per epoch), ``logs/`` (TensorBoard);
- ``last.keras`` / ``last.weights.h5`` and ``best.keras`` / ``best.weights.h5`` (best
  validation accuracy), each written under a temporary name and renamed.

Killed at any point, the same command continues from the weights and optimizer state of the
last saved step (the interrupted epoch runs again from its first step) and still ends after
``epochs`` epochs.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import keras

from inception_v2.data.training import ClassFolders, make_dataset, scan_class_folders, split
from inception_v2.errors import DataError, InvalidArgument
from inception_v2.files import atomic_path, save_figure
from inception_v2.interrupts import deferred, raise_if_interrupted
from inception_v2.model.architecture import PRETRAINED
from inception_v2.training.backup import (
    BACKUP_FILE,
    KERAS_BACKUP_FILES,
    KERAS_LAYOUT_FILE,
    Backup,
    backup_position,
    restore,
)
from inception_v2.training.classifier import build_classifier
from inception_v2.training.compiling import compile_classifier
from inception_v2.training.run_folder import RunFolder, normalise_path
from inception_v2.weights.checkpoint import infer_config, model_variable_map
from inception_v2.weights.keras_files import save_keras_and_weights

log = logging.getLogger("inception_v2")
OPTIMIZERS = ("adam", "sgd")
DEFAULT_BATCH_SIZE = 32


@dataclass
class RunSettings:
    """What defines a fine-tuning run (compared on resume)."""

    data: str
    weights: str | None
    epochs: int = 5
    batch_size: int | None = DEFAULT_BATCH_SIZE  # None: 32, or all training images when fewer
    train: str = "head"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    train_batch_norm: bool = False
    batch_norm_momentum: float = 0.99
    color_distortion: bool = True
    validation_split: float = 0.2
    dtype: str | None = None
    image_size: int = PRETRAINED.image_size
    seed: int = 0
    save_every: int = 20
    max_steps_per_epoch: int | None = None
    distribute: str | None = None  # "mirrored": data-parallel over this host's devices

    def check(self) -> None:
        """Refuse settings no run can use, before anything is read or written.

        Raises:
            InvalidArgument: naming the option and the value.
        """
        if self.epochs < 1 or (self.batch_size is not None and self.batch_size < 1):
            raise InvalidArgument(
                f"epochs and batch size must be at least 1, got {self.epochs}, {self.batch_size}"
            )
        m, bn, split = self.momentum, self.batch_norm_momentum, self.validation_split
        for option, value, fits, interval in (
            ("--momentum", m, 0 <= m < 1, "in [0, 1)"),
            ("--batch-norm-momentum", bn, 0 <= bn < 1, "in [0, 1)"),
            ("--validation-split", split, 0 < split < 1, "between 0 and 1"),
        ):
            if not fits:
                raise InvalidArgument(f"{option} must be {interval}, got {value}")
        if self.optimizer not in OPTIMIZERS:
            raise InvalidArgument(
                f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if not self.learning_rate > 0:
            raise InvalidArgument(f"--learning-rate must be greater than 0, got {self.learning_rate}")

    def record(self) -> dict:
        """The settings as ``run.json`` records them: paths resolved."""
        return {**asdict(self), "data": normalise_path(self.data), "weights": normalise_path(self.weights)}


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.9) -> keras.optimizers.Optimizer:
    """Adam (default: insensitive to the scale of the pretrained features) or SGD with momentum."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=momentum)
    raise InvalidArgument(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def strategy_scope(distribute: str | None):
    """The scope to build and compile in: ``tf.distribute.MirroredStrategy`` or none.

    (Multi-worker training is ``distributed.distributed_fit``: Keras 3.15's ``fit`` cannot.)
    """
    import contextlib

    if distribute is None:
        return contextlib.nullcontext()
    if distribute != "mirrored":
        raise InvalidArgument(f"finetune's --distribute takes 'mirrored', got {distribute!r}")
    from inception_v2.training.distributed import make_strategy

    strategy = make_strategy("mirrored")
    log.info("MirroredStrategy over %d device(s)", strategy.num_replicas_in_sync)
    return strategy.scope()


def load_splits(settings: RunSettings) -> tuple[ClassFolders, ClassFolders]:
    """``data/train`` + ``data/val`` when both exist, else a split of ``data``'s class folders."""
    root = Path(settings.data)
    if (root / "train").is_dir() and (root / "val").is_dir():
        train = scan_class_folders(root / "train")
        return train, scan_class_folders(root / "val", train.class_names, empty_classes=True)
    return split(scan_class_folders(root), settings.validation_split, settings.seed)


class _SaveModels(keras.callbacks.Callback):
    """Each epoch: last and best models (atomically), the curves PNG, images/s."""

    def __init__(self, out: Path, config: dict, images_per_epoch: int, class_names: list[str]):
        super().__init__()
        self.out, self.config, self.images_per_epoch = out, config, images_per_epoch
        self.class_names = class_names
        self.state_path = out / "state.json"
        self.best = (
            json.loads(self.state_path.read_text())["best_val_accuracy"] if self.state_path.exists() else -1.0
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        rate = self.images_per_epoch / (time.perf_counter() - self.start)
        log.info(
            "epoch %d: %.1f training images/s (validation included), val_accuracy %.4f",
            epoch + 1,
            rate,
            logs.get("val_accuracy", float("nan")),
        )
        last = save_keras_and_weights(
            self.model, self.out / "last", self.config, overwrite=True, class_names=self.class_names
        )
        if logs.get("val_accuracy", -1.0) > self.best:
            self.best = float(logs["val_accuracy"])
            for path in last:  # the same model: copied, not saved again
                with atomic_path(self.out / path.name.replace("last", "best", 1), overwrite=True) as tmp:
                    shutil.copyfile(path, tmp)
            with atomic_path(self.state_path, overwrite=True) as tmp:
                tmp.write_text(json.dumps({"best_val_accuracy": self.best, "best_epoch": epoch + 1}))
        history = self.out / "history.csv"  # CSVLogger, earlier in the list, has written it
        if history.exists():
            plot_history(history, self.out / "curves.png")


class _StopOnInterrupt(keras.callbacks.Callback):
    """Stops training after the step (or validation batch) in which Ctrl-C came: ``fit`` runs
    under ``interrupts.deferred``, which holds the signal back until here."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_interrupted()

    def on_test_batch_end(self, batch, logs=None):
        raise_if_interrupted()


class _History(keras.callbacks.CSVLogger):
    """Keras' CSVLogger with epochs counted from 1, as the console and state.json count them."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


def read_history(path: Path) -> list[dict[str, float]]:
    """Rows of ``history.csv``, one per epoch counted from 1 (the last row wins if an epoch was redone)."""
    by_epoch: dict[int, dict[str, float]] = {}
    with open(path) as f:
        for line, row in enumerate(csv.DictReader(f), 2):
            if row.get("epoch") == "epoch":
                continue  # a header written again (two runs at once, before runs were locked)
            try:
                by_epoch[int(row["epoch"])] = {k: float(v) for k, v in row.items() if v not in ("", None)}
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{path}: line {line} is not an epoch's numbers; use --overwrite to start afresh"
                ) from None
    return [by_epoch[k] for k in sorted(by_epoch)]


def plot_history(history_csv: Path, png: Path) -> Path:
    """Loss and accuracy per epoch, training and validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = read_history(history_csv)
    epochs = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100, layout="constrained")
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = [r.get(prefix + metric) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)  # one epoch: a tick at 1, not 0.945..1.05
        if len(epochs) <= 15:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("InceptionV2 fine-tuning")
    return save_figure(fig, png)


#: What a run writes into its folder (and --overwrite deletes to start afresh).
RUN_FILES = (
    "run.json",
    "classes.json",
    "state.json",
    "history.csv",
    "curves.png",
    "last.keras",
    "last.weights.h5",
    "best.keras",
    "best.weights.h5",
)
RUN_FOLDERS = (
    ("backup", (BACKUP_FILE, KERAS_LAYOUT_FILE, *KERAS_BACKUP_FILES, ".*.tmp*")),
    ("logs", ("**/events.out.tfevents.*",)),  # TensorBoard's own names
)


def run_folder(out: str | os.PathLike) -> RunFolder:
    """``out`` as fine-tuning uses it: ``run.json`` marks it; ``RUN_FILES`` and the files of
    ``RUN_FOLDERS`` are its own."""
    return RunFolder(Path(out), "finetune", "run.json", RUN_FILES, RUN_FOLDERS)


def finetune(
    settings: RunSettings, out: str | os.PathLike, verbose: int = 1, overwrite: bool = False
) -> dict:
    """Run, resume or extend fine-tuning in ``out``.

    Everything (the folder, settings against a run already in ``out``, the data, the weights)
    is checked before anything is written, so a failed start leaves ``out`` as it was. A rerun
    with the same settings resumes; with more ``epochs`` it continues a finished run; a finished
    run is reported as it is, without training.

    Args:
        settings: what defines the run (all but ``epochs`` must match a run in ``out``).
        out: the run folder.
        verbose: Keras' ``fit`` verbosity.
        overwrite: start afresh, deleting the files of any run in ``out`` (only those).

    Returns:
        ``out``, ``classes``, ``epochs`` (done in all), ``epochs_run`` (in this call),
        ``final`` (the last epoch's metrics) and ``skipped`` (unreadable images).

    Raises:
        InvalidArgument, DataError, OutputError, RunInUse: settings, data or folder that
            cannot be used; nothing is written then.
    """
    settings.check()
    folder = run_folder(out)
    out = folder.path
    with folder.lock():  # refuses a live run at once; a failed start removes the folder it made
        fitted = settings.batch_size is None  # chosen once the training images are counted
        state = folder.check(settings.record(), overwrite, ("epochs",) + (("batch_size",) if fitted else ()))
        train_data, val_data = load_splits(settings)
        if fitted:
            settings = replace(settings, batch_size=min(DEFAULT_BATCH_SIZE, len(train_data.files)))
            if settings.batch_size < DEFAULT_BATCH_SIZE:
                log.info("batch size %d: every training image in each step", settings.batch_size)
            state = folder.check(settings.record(), overwrite, may_change=("epochs",))
        record = settings.record()
        classes = train_data.class_names
        steps = len(train_data.files) // settings.batch_size
        if settings.max_steps_per_epoch:
            steps = min(steps, settings.max_steps_per_epoch)
        if steps < 1:
            raise InvalidArgument(
                f"{settings.data}: {len(train_data.files)} training images, fewer than one batch "
                f"of {settings.batch_size}; pass a smaller --batch-size"
            )
        skipped = train_data.unreadable + val_data.unreadable
        done = (backup_position(out / "backup") or {"epoch": 0})["epoch"] if state == "resume" else 0
        if done >= settings.epochs:
            log.info(
                "%s: complete, %d epoch%s trained; raise --epochs to train on", out, done, "s"[: done != 1]
            )
            return _result(out, classes, done, 0, skipped)
        model = _compiled_classifier(settings, len(classes))
        # All checked: from here on the run writes into out.
        if state == "afresh":
            folder.clear()
        with atomic_path(out / "run.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(record, indent=2))
        with atomic_path(out / "classes.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(classes))
        for path in skipped:
            log.warning("skipped (not a readable image): %s", path)
        initial_epoch = restore(model, out / "backup")
        _fit(model, settings, train_data, val_data, steps, out, initial_epoch, verbose)
        return _result(out, classes, settings.epochs, settings.epochs - initial_epoch, skipped)


def _compiled_classifier(settings: RunSettings, num_classes: int) -> keras.Model:
    keras.utils.set_random_seed(settings.seed)
    with strategy_scope(settings.distribute):
        model = build_classifier(
            num_classes,
            weights=settings.weights,
            train=settings.train,
            train_batch_norm=settings.train_batch_norm,
            batch_norm_momentum=settings.batch_norm_momentum,
            input_shape=(settings.image_size, settings.image_size, 3),
            dtype=settings.dtype,
        )
        # In the strategy's scope, so that a backup's optimizer state has a place.
        compile_classifier(
            model, make_optimizer(settings.optimizer, settings.learning_rate, settings.momentum)
        )
    return model


def _fit(model, settings, train_data, val_data, steps, out: Path, initial_epoch: int, verbose: int) -> None:
    train = make_dataset(
        train_data,
        settings.batch_size,
        True,
        settings.image_size,
        settings.color_distortion,
        settings.seed,
        repeat=True,
    )
    val = make_dataset(val_data, settings.batch_size, False, settings.image_size)
    # The arguments stored with .weights.h5, read off the model rather than restated.
    config = asdict(infer_config(model_variable_map(model)))
    callbacks = [
        _History(str(out / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
        _SaveModels(out, config, steps * settings.batch_size, train_data.class_names),
        _StopOnInterrupt(),
        Backup(out / "backup", settings.save_every),  # last: an epoch is done once all is written
    ]
    with deferred():  # a step or batch in flight in TensorFlow is never cancelled midway
        model.fit(
            train,
            epochs=settings.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=val,
            callbacks=callbacks,
            verbose=verbose,
        )


def _result(out: Path, classes: list[str], epochs: int, epochs_run: int, skipped: list[str]) -> dict:
    history = out / "history.csv"
    rows = read_history(history) if history.exists() else []
    final = {k: v for k, v in rows[-1].items() if k != "epoch"} if rows else {}
    return {
        "out": str(out),
        "classes": classes,
        "epochs": epochs,
        "epochs_run": epochs_run,
        "final": final,
        "skipped": skipped,
    }
