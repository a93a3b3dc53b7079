"""Batch Normalization's training speed-up, reproduced in miniature (``inception-v2 bn-study``).

Ioffe & Szegedy (2015) show their idea with one figure and one table: validation accuracy
against training steps for Inception without batch norm, with it (BN-Baseline), with it and
5x or 30x the learning rate (BN-x5, BN-x30), and with sigmoids instead of ReLUs
(BN-x5-Sigmoid); and the steps each needs to reach Inception's best accuracy. Here the same
five networks (and the paper's negative result, Inception-Sigmoid without batch norm) train
from the same initialisation on the same batches, small enough to finish in minutes on a
laptop: scikit-learn's handwritten digits upsampled (or class folders of one's own), a
reduced depth multiplier and image size.

Where the small study departs from the paper: SGD with momentum 0.9 and an exponential
learning-rate decay as in the paper, but no weight decay and no photometric distortion (no
colour to distort); batch-norm momentum 0.9 instead of slim's 0.9997, so that the moving
statistics used for validation follow the weights within tens of steps, not thousands. The
paper's other changes for BN-x5/x30 are followed: no dropout, a learning-rate decay 6x faster.

Everything lives in one folder: ``settings.json`` (a rerun with other settings is refused),
``models/<variant>.keras`` (each variant's latest state, optimizer included), ``curves.csv``
(validation accuracy per evaluation), ``curves.png`` (the paper's figure), ``table.csv`` and
``table.json`` (the paper's table). Killed at any point, the same call continues from the
last saved state (at most ``SAVE_EVERY_S`` seconds of training back).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from inception_v2.data.sources import without_autotuning
from inception_v2.errors import DataError, InvalidArgument
from inception_v2.files import atomic_path
from inception_v2.interrupts import deferred, raise_if_interrupted
from inception_v2.studies.bn.data import StudyData, batch_order, load_study_data
from inception_v2.studies.bn.results import (
    BASELINE,
    finite,
    format_table,
    plot_variant_curves,
    read_curves,
    summarize,
    write_curves,
)
from inception_v2.training.run_folder import RunFolder

log = logging.getLogger("inception_v2")


@dataclass(frozen=True)
class Variant:
    """One network of the paper's comparison."""

    name: str
    batch_norm: bool
    activation: str
    learning_rate_factor: float
    #: the paper's section 4.2.1 changes for BN-x5/x30: no dropout, learning rate decayed 6x faster
    paper_changes: bool
    description: str


VARIANTS = (
    Variant("Inception", False, "relu", 1, False, "no batch norm (biased convolutions), base learning rate"),
    Variant("BN-Baseline", True, "relu", 1, False, "batch norm before each ReLU, base learning rate"),
    Variant("BN-x5", True, "relu", 5, True, "batch norm, 5x the learning rate, no dropout, faster decay"),
    Variant("BN-x30", True, "relu", 30, True, "batch norm, 30x the learning rate, no dropout, faster decay"),
    Variant("BN-x5-Sigmoid", True, "sigmoid", 5, True, "BN-x5 with sigmoids instead of ReLUs"),
    Variant(
        "Inception-Sigmoid",
        False,
        "sigmoid",
        1,
        False,
        "the paper's negative result: sigmoids, no batch norm",
    ),
)
VARIANT_NAMES = tuple(v.name for v in VARIANTS)
SAVE_EVERY_S = 30  # a killed study redoes at most this much training (and what it evaluated)
DECAY_SPEED_UP = 6  # the paper: "we lower the learning rate 6 times faster"
#: Below this many steps the networks without batch norm have not left their first plateau
#: (Inception reaches 95 % of its best after ~900 steps with the defaults): the table then
#: compares curves that have barely started.
MEANINGFUL_STEPS = 1000
MEANINGFUL_EVALUATIONS = 5


@dataclass
class StudySettings:
    """What defines a study (compared with the folder's ``settings.json`` on a rerun)."""

    data: str | None = None  # None: scikit-learn's digits
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 0.001  # the base rate: Inception's and BN-Baseline's
    depth_multiplier: float = 0.25
    image_size: int = 32
    eval_every: int = 100
    validation_split: float = 0.2
    batch_norm_momentum: float = 0.9
    seed: int = 0
    variants: list[str] = field(default_factory=lambda: list(VARIANT_NAMES))

    def check(self) -> None:
        """Refuse settings that cannot make a study, before anything is read or written."""
        for name in ("steps", "batch_size", "eval_every", "image_size"):
            if (value := getattr(self, name)) < 1:
                raise InvalidArgument(f"{name.replace('_', '-')} must be at least 1, got {value}")
        for name in ("learning_rate", "depth_multiplier"):
            if not (value := getattr(self, name)) > 0:
                raise InvalidArgument(f"{name.replace('_', '-')} must be > 0, got {value}")
        if not 0.0 < self.validation_split < 1.0:
            raise InvalidArgument(f"validation split must be in (0, 1), got {self.validation_split}")
        if not 0.0 <= self.batch_norm_momentum < 1.0:
            raise InvalidArgument(f"batch-norm momentum must be in [0, 1), got {self.batch_norm_momentum}")
        unknown = [v for v in self.variants if v not in VARIANT_NAMES]
        if unknown or not self.variants:
            raise InvalidArgument(f"unknown variants {unknown}; choose from {', '.join(VARIANT_NAMES)}")

    def too_short(self) -> str | None:
        """Why a study with these settings is too short for its table to mean anything, or None."""
        evaluations = self.steps // self.eval_every
        if self.steps < MEANINGFUL_STEPS or evaluations < MEANINGFUL_EVALUATIONS:
            return (
                f"{self.steps} steps with an evaluation every {self.eval_every}: too short for the table "
                f"to compare the variants (it needs >= {MEANINGFUL_STEPS} steps and >= "
                f"{MEANINGFUL_EVALUATIONS} evaluations; the default is {StudySettings.steps}): a smoke run"
            )
        return None


# ----------------------------------------------------------------------------- models


def learning_rate_schedule(variant: Variant, settings: StudySettings):
    """The paper's exponential decay: the base rate times the variant's factor, halved once
    over the study (six times with the paper's 6x faster decay for BN-x5/x30)."""
    import keras

    half_life = settings.steps / (DECAY_SPEED_UP if variant.paper_changes else 1)
    return keras.optimizers.schedules.ExponentialDecay(
        settings.learning_rate * variant.learning_rate_factor, decay_steps=max(half_life, 1.0), decay_rate=0.5
    )


def build_variant(variant: Variant, num_classes: int, settings: StudySettings, eager: bool = False):
    """The variant's network, freshly initialised from ``settings.seed``, compiled for training."""
    import keras

    from inception_v2.model.network import build_inception_v2
    from inception_v2.training.compiling import compile_classifier

    keras.utils.set_random_seed(settings.seed)
    model = build_inception_v2(
        input_shape=(settings.image_size, settings.image_size, 3),
        classes=num_classes,
        classifier_activation=None,
        depth_multiplier=settings.depth_multiplier,
        dropout_keep_prob=1.0 if variant.paper_changes else 0.8,
        global_pool=True,
        batch_norm=variant.batch_norm,
        activation=variant.activation,
        name=variant.name.replace("-", "_"),
    )
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = settings.batch_norm_momentum
    compile_classifier(
        model,
        keras.optimizers.SGD(learning_rate_schedule(variant, settings), momentum=0.9),
        # XLA makes this small network's steps slower on CPUs, and its first step compiles
        # longer (docs/performance.md, "The BN study without XLA").
        jit_compile=False,
        run_eagerly=eager,
    )
    return model


# ----------------------------------------------------------------------------- the study

STUDY_FILES = ("settings.json", "curves.csv", "curves.png", "table.csv", "table.json")


def study_folder(out: str | os.PathLike) -> RunFolder:
    """``out`` as the study uses it: ``settings.json`` marks it; its files and ``models/`` are its own."""
    models = tuple(f"{variant.name}.keras" for variant in VARIANTS) + (".*.tmp*",)
    return RunFolder(Path(out), "bn-study", "settings.json", STUDY_FILES, (("models", models),))


def _batches(x, y, batch_size: int):
    """``(x, y)`` in order, ``batch_size`` at a time, as Keras would batch the arrays, in a
    pipeline without tf.data's autotuning (Keras' own would make each ``fit`` and ``evaluate``
    wait on its tuning thread as it ends, ``data.without_autotuning``)."""
    import tensorflow as tf

    return without_autotuning(tf.data.Dataset.from_tensor_slices((x, y))).batch(batch_size)


def _evaluate(model, data: StudyData) -> float:
    batches = _batches(data.x_val, data.y_val, 256)
    return float(model.evaluate(batches, verbose=0, return_dict=True)["accuracy"])


def _resume(path: Path, rows: list[dict]):
    """The variant's saved model, and its curve up to the model's step (rows written after
    it, before a kill, are dropped: they will be trained again)."""
    import keras

    model = keras.saving.load_model(path, safe_mode=True)
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    rows = [r for r in rows if r["step"] <= step]
    if not rows or rows[-1]["step"] != step:
        raise DataError(f"{path}: saved at step {step}, which curves.csv does not reach; use --overwrite")
    return model, rows


def run_study(
    settings: StudySettings,
    out: str | os.PathLike,
    overwrite: bool = False,
    progress: Callable[[int, str], None] | None = None,
    eager: bool = False,
) -> dict:
    """Train every variant of ``settings.variants`` (or continue a killed study); return the table.

    ``progress(images, note)`` is called after every training step. ``eager`` trains without
    tracing: each step is slower, but a study of a handful of steps skips the seconds that
    tracing a training step costs per variant (the numbers do not depend on it). Settings, data and
    folder are checked before anything is written, so a failed start leaves ``out`` as it was.
    """
    settings.check()
    folder = study_folder(out)
    with folder.lock():  # refuses a live study at once; a failed start removes the folder it made
        state = folder.check(asdict(settings), overwrite)
        data = load_study_data(settings.data, settings.image_size, settings.validation_split, settings.seed)
        if (reason := settings.too_short()) is not None:
            log.warning("warning: %s", reason)
        if state == "afresh":
            folder.clear()
        (folder.path / "models").mkdir(parents=True, exist_ok=True)
        with atomic_path(folder.record_path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(asdict(settings), indent=2))
        result = _train_variants(settings, data, folder.path, progress, eager)
    if reason is not None:
        result["text"] += f"\nwarning: {reason}"
    return result


def _train_variants(
    settings: StudySettings,
    data: StudyData,
    out: Path,
    progress: Callable[[int, str], None] | None,
    eager: bool,
) -> dict:
    import keras

    order = batch_order(len(data.y_train), settings.steps, settings.batch_size, settings.seed)
    curves = read_curves(out / "curves.csv")
    curves = {v: curves.get(v, []) for v in settings.variants}

    class _Steps(keras.callbacks.Callback):
        note = ""

        def on_train_batch_end(self, batch, logs=None):
            raise_if_interrupted()
            if progress is not None:
                progress(settings.batch_size, self.note)

    steps_callback = _Steps()
    for variant in (v for v in VARIANTS if v.name in settings.variants):
        path = out / "models" / f"{variant.name}.keras"
        if path.exists():
            model, curves[variant.name] = _resume(path, curves[variant.name])
        else:
            model = build_variant(variant, len(data.class_names), settings, eager)
            curves[variant.name] = [{"step": 0, "val_accuracy": _evaluate(model, data), "loss": None}]
            write_curves(out / "curves.csv", curves)
        step = curves[variant.name][-1]["step"]
        saved = time.monotonic()
        if progress is not None and step:
            progress(step * settings.batch_size, f"{variant.name}: resumed at step {step}")
        while step < settings.steps:
            end = min(step + settings.eval_every, settings.steps)
            batches = order[step:end].reshape(-1)
            steps_callback.note = f"{variant.name} (step {end} of {settings.steps})"
            with deferred():  # a step in flight in TensorFlow is never cancelled midway
                history = model.fit(
                    _batches(data.x_train[batches], data.y_train[batches], settings.batch_size),
                    epochs=1,
                    shuffle=False,
                    verbose=0,
                    callbacks=[steps_callback],
                )
                accuracy = _evaluate(model, data)
            step = end
            loss = finite(history.history["loss"][-1])
            curves[variant.name].append({"step": step, "val_accuracy": accuracy, "loss": loss})
            if step == settings.steps or time.monotonic() - saved > SAVE_EVERY_S:
                # The curve first: killed before the model is saved, the rerun drops the rows past
                # the saved model's step and trains them again (same batches, same numbers).
                write_curves(out / "curves.csv", curves)
                with atomic_path(path, overwrite=True) as tmp:
                    model.save(tmp)
                saved = time.monotonic()
        keras.backend.clear_session()
    return _write_results(out, settings, data, curves)


def _write_results(
    out: Path, settings: StudySettings, data: StudyData, curves: dict[str, list[dict]]
) -> dict:
    baseline_rows = curves.get(BASELINE, [])
    target = max((r["val_accuracy"] for r in baseline_rows), default=None)
    table = summarize(curves)
    title = (
        f"{data.source}: {len(data.y_train)} training images, {settings.image_size}px, "
        f"depth x{settings.depth_multiplier}, batch {settings.batch_size}"
    )
    plot_variant_curves(curves, out / "curves.png", title)
    with atomic_path(out / "table.csv", overwrite=True) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    result = {
        "settings": asdict(settings),
        "data": {"source": data.source, "train": len(data.y_train), "val": len(data.y_val)},
        "baseline_best_val_accuracy": target,
        "table": table,
        "out": str(out),
    }
    with atomic_path(out / "table.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    result["text"] = format_table(table, target)
    return result
