"""Exporting a classifier for serving: SavedModel, LiteRT (TFLite) and ONNX via Keras.

The exported function takes images preprocessed as for the model ([-1, 1], NHWC float32)
and returns class probabilities (softmax of the logits).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from inception_v2.errors import InvalidArgument
from inception_v2.files import refuse_existing

FORMATS = {"savedmodel": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
SUFFIXES = {"savedmodel": "", "litert": ".tflite", "onnx": ".onnx"}


def serving_model(model: keras.Model) -> keras.Model:
    """``model`` with probabilities as output (softmax added when it outputs logits)."""
    last = model.layers[-1]
    if getattr(last, "activation", None) is keras.activations.softmax:
        return model
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="Predictions")(model.output)
    return keras.Model(model.input, probabilities, name=f"{model.name}_serving")


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format of ``path``: ``fmt`` if given (it must fit the extension), else the
    extension's (``.tflite``: litert, ``.onnx``: onnx, anything else: a SavedModel folder)."""
    suffix = Path(path).suffix.lower()
    implied = {".tflite": "litert", ".onnx": "onnx"}.get(suffix, "savedmodel")
    if fmt is None:
        return implied
    if fmt not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt != implied and (suffix in (".tflite", ".onnx") or fmt != "savedmodel"):
        wanted = SUFFIXES[fmt] or "a folder name without .tflite/.onnx"
        raise InvalidArgument(f"{path}: the {fmt} format wants {wanted}, not {suffix or 'a bare name'}")
    return fmt


def export(
    model: keras.Model, path: str | os.PathLike, fmt: str | None = None, overwrite: bool = False
) -> Path:
    """Export ``model``'s probabilities to ``path`` in ``fmt``, atomically.

    ``fmt``: ``savedmodel`` (a directory), ``litert`` (``.tflite``) or ``onnx`` (``.onnx``;
    needs the ``onnx`` extra); by default the one ``path``'s extension names. The artifact
    is built beside ``path`` and renamed.
    """
    fmt = format_for(path, fmt)
    path = refuse_existing(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        target = staging / ("export" + SUFFIXES[fmt])
        serving = serving_model(model)
        if None not in serving.input.shape[1:]:
            serving(np.zeros((1, *serving.input.shape[1:]), "float32"))  # ONNX wants a called model
        serving.export(str(target), format=FORMATS[fmt], verbose=False)
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
