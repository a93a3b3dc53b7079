"""Exporting a classifier for serving: SavedModel, LiteRT (TFLite) and ONNX via Keras.

The exported function takes images preprocessed as for the model ([-1, 1], NHWC float32)
and returns class probabilities (softmax of the logits).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inception_v2.errors import InvalidArgument, MissingExtra
from inception_v2.files import atomic_folder, atomic_path, check_output_folder, check_writable

FORMATS = {"savedmodel": "tf_saved_model", "litert": "litert", "onnx": "onnx"}
SUFFIXES = {"savedmodel": "", "litert": ".tflite", "onnx": ".onnx"}


def serving_model(model):
    """``model`` (a ``keras.Model``) with probabilities as output (softmax added when it
    outputs logits)."""
    import keras

    last = model.layers[-1]
    if getattr(last, "activation", None) is keras.activations.softmax:
        return model
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="Predictions")(model.output)
    return keras.Model(model.input, probabilities, name=f"{model.name}_serving")


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format of ``path``: ``fmt`` if given (it must fit the extension), else the
    extension's (``.tflite``: litert, ``.onnx``: onnx, none: a SavedModel folder).

    Raises:
        InvalidArgument: an extension no format writes (``model.xml`` would have become a
            SavedModel folder of that name), unless ``fmt`` says ``savedmodel``; a ``fmt`` that
            does not fit the extension.
    """
    suffix = Path(path).suffix.lower()
    implied = {".tflite": "litert", ".onnx": "onnx", "": "savedmodel"}.get(suffix)
    if fmt is None:
        if implied is None:
            raise InvalidArgument(
                f"{path}: export writes no {suffix} file; name a .tflite (LiteRT) or .onnx (ONNX) file, "
                "or a folder without an extension for a SavedModel (--format savedmodel: any folder name)"
            )
        return implied
    implied = implied or "savedmodel"
    if fmt not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt != implied and (suffix in (".tflite", ".onnx") or fmt != "savedmodel"):
        wanted = SUFFIXES[fmt] or "a folder name without .tflite/.onnx"
        raise InvalidArgument(f"{path}: the {fmt} format wants {wanted}, not {suffix or 'a bare name'}")
    return fmt


def check_export(path: str | os.PathLike, fmt: str | None = None, overwrite: bool = False) -> str:
    """Everything about an export that can be checked before the model is built; its format.

    A SavedModel folder is replaced (with ``overwrite``) only if this command wrote it; a
    ``.tflite`` / ``.onnx`` file only if it is a file.

    Raises:
        InvalidArgument: the format does not fit ``path``.
        MissingExtra: ONNX export without the ``export`` extra.
        OutputExists, OutputError, NotAFileName: ``path`` cannot take the export.
    """
    fmt = format_for(path, fmt)
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import tf2onnx  # noqa: F401
        except ImportError as e:
            raise MissingExtra.named("export", f"ONNX export needs tf2onnx and onnx ({e})") from None
    if fmt == "savedmodel":
        check_output_folder(path, overwrite, "export")
    else:
        check_writable(path, overwrite)
    return fmt


def export(
    model,
    path: str | os.PathLike,
    fmt: str | None = None,
    overwrite: bool = False,
    source: str | None = None,
) -> Path:
    """Export ``model``'s probabilities to ``path`` in ``fmt``, atomically.

    Args:
        model: a ``keras.Model`` classifier (logits or probabilities out).
        path: a SavedModel folder, a ``.tflite`` or an ``.onnx`` file.
        fmt: ``savedmodel``, ``litert`` or ``onnx`` (needs the ``export`` extra); by default
            the one ``path``'s extension names.
        overwrite: replace an earlier export at ``path`` (a folder only if this command
            wrote it: it carries ``files.OWNER_MARK``, with ``source`` recorded).
        source: the weights exported, recorded in a SavedModel's mark.

    Returns:
        ``path``.

    Raises:
        As ``check_export``.
    """
    fmt = check_export(path, fmt, overwrite)
    serving = serving_model(model)
    if None not in serving.input.shape[1:]:
        serving(np.zeros((1, *serving.input.shape[1:]), "float32"))  # ONNX wants a called model
    if fmt == "savedmodel":
        with atomic_folder(path, overwrite, "export", format=fmt, weights=source) as staging:
            # Keras writes the SavedModel into a folder of its own making.
            os.rmdir(staging)
            serving.export(str(staging), format=FORMATS[fmt], verbose=False)
    else:
        with atomic_path(path, overwrite=overwrite) as tmp:
            serving.export(str(tmp), format=FORMATS[fmt], verbose=False)
    return Path(path)
