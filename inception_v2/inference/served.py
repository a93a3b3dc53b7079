"""Served models (``inception-v2 export``'s SavedModel) run as a client runs them.

A served SavedModel's ``serving_default`` signature takes what a client has, a 1-D batch of
encoded images (``tf.string``: JPEG, PNG, GIF, BMP; any size, mixed sizes in one batch), and
does slim's eval preprocessing itself; it returns ``probabilities`` and the top classes
(``classes``, ``scores``, ``labels``). Its ``preprocessed`` signature takes the float batch the
Keras model takes. The labels by output index travel in ``assets.extra/labels.txt``, TF
Serving's folder for files the graph does not read.

``eval`` and ``predict`` take the folder as ``--weights`` and feed it encoded files, so the
preprocessing inside the file is part of what they measure. TensorFlow loads only inside the
functions that need it: asking whether a path is a served model stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inception_v2.errors import CheckpointError
from inception_v2.inference.runner import ENCODED, Runner

SERVING_SIGNATURE = "serving_default"
PREPROCESSED_SIGNATURE = "preprocessed"
INPUT = "images"  # both signatures' one input
OUTPUTS = ("probabilities", "classes", "scores", "labels")
TOP = 5  # the classes serving_default names
LABELS_FILE = Path("assets.extra") / "labels.txt"  # one label per output index
RUNTIME = "tensorflow (SavedModel)"


def is_saved_model(path: str | os.PathLike) -> bool:
    """True for a SavedModel folder (``saved_model.pb`` inside); says nothing of its signatures."""
    return (Path(path) / "saved_model.pb").is_file()


@dataclass(frozen=True)
class ServedModel:
    """A loaded served SavedModel.

    Attributes:
        runner: encoded images in (``Runner.inputs == ENCODED``), log-probabilities out (their
            softmax is the file's probabilities again, so every measure of logits applies).
        labels: the label of each output index (synsets, "background" at 0 for slim's 1001
            classes; a fine-tuned model's class names).
        path: the folder.
    """

    runner: Runner
    labels: list[str]
    path: Path

    @property
    def classes(self) -> int:
        return len(self.labels)


def load_served(path: str | os.PathLike) -> ServedModel:
    """The SavedModel folder that ``inception-v2 export`` wrote, ready to be fed encoded images.

    Raises:
        CheckpointError: ``path`` is not a SavedModel, does not load (truncated, corrupt), or
            lacks the ``serving_default`` that takes encoded images or the labels file (an
            export of another model, or of an earlier version of this one).
    """
    path = Path(path)
    if not is_saved_model(path):
        raise CheckpointError(f"{path}: not a SavedModel folder (no saved_model.pb)")
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:  # any failure to load a user's file is that file's problem
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: the SavedModel does not load ({first})") from None
    signature = loaded.signatures.get(SERVING_SIGNATURE)
    inputs = signature.structured_input_signature[1] if signature is not None else {}
    spec = inputs.get(INPUT)
    if spec is None or spec.dtype != tf.string or spec.shape.rank != 1:
        raise CheckpointError(
            f"{path}: its {SERVING_SIGNATURE} signature does not take encoded images as '{INPUT}' "
            "(another model's export, or an earlier version's); export it again with inception-v2 export"
        )
    try:
        labels = (path / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: {LABELS_FILE} cannot be read ({e.__class__.__name__})") from None
    if len(labels) != signature.structured_outputs["probabilities"].shape[-1]:
        raise CheckpointError(
            f"{path}: {LABELS_FILE} has {len(labels)} labels, the model "
            f"{signature.structured_outputs['probabilities'].shape[-1]} classes"
        )

    def log_probabilities(encoded, _loaded=loaded) -> np.ndarray:  # the signature needs it alive
        probabilities = signature(**{INPUT: tf.constant(encoded, tf.string)})["probabilities"].numpy()
        with np.errstate(divide="ignore"):  # a probability of 0 is a log-probability of -inf
            return np.log(probabilities)

    return ServedModel(Runner(log_probabilities, "float32", RUNTIME, inputs=ENCODED), labels, path)
