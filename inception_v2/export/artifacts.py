"""Exporting a classifier for serving: SavedModel, LiteRT (TFLite), ONNX and OpenVINO IR.

Each takes what a client has and does slim's eval preprocessing itself (``export.serving``):
the SavedModel encoded images, the others uint8 images at their own size. Each returns class
probabilities (softmax of the logits) and carries its labels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from inception_v2.errors import ExportMismatch, InvalidArgument, MissingExtra, OutputExists
from inception_v2.files import atomic_folder, atomic_path, check_output_folder, check_writable

#: Each format by the extension of its path ("" : a SavedModel folder).
SUFFIXES = {"savedmodel": "", "litert": ".tflite", "onnx": ".onnx", "openvino": ".xml"}
FORMATS = tuple(SUFFIXES)


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
    extension's (``.tflite``: litert, ``.onnx``: onnx, ``.xml``: openvino, none: a SavedModel
    folder).

    Raises:
        InvalidArgument: an extension no format writes, unless ``fmt`` says ``savedmodel``
            (any folder name); a ``fmt`` that does not fit the extension.
    """
    suffix = Path(path).suffix.lower()
    implied = {extension: name for name, extension in SUFFIXES.items()}.get(suffix)
    if fmt is None:
        if implied is None:
            raise InvalidArgument(
                f"{path}: export writes no {suffix} file; name a .tflite (LiteRT), .onnx (ONNX) or .xml "
                "(OpenVINO IR) file, or a folder without an extension for a SavedModel (--format "
                "savedmodel: any folder name)"
            )
        return implied
    implied = implied or "savedmodel"
    if fmt not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt != implied and (suffix in SUFFIXES.values() or fmt != "savedmodel"):
        wanted = SUFFIXES[fmt] or "a folder name without .tflite/.onnx/.xml"
        raise InvalidArgument(f"{path}: the {fmt} format wants {wanted}, not {suffix or 'a bare name'}")
    return fmt


def companion(path: str | os.PathLike, fmt: str) -> Path | None:
    """The second file an export to ``path`` writes: an IR's ``.bin`` beside its ``.xml``."""
    return Path(path).with_suffix(".bin") if fmt == "openvino" else None


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
            import onnxruntime  # noqa: F401  (--verify runs it)
            import tf2onnx  # noqa: F401
        except ImportError as e:
            needs = "ONNX export needs tf2onnx, onnx and onnxruntime"
            raise MissingExtra.named("export", f"{needs} ({e})") from None
    if fmt == "openvino":
        from inception_v2.inference.openvino import import_openvino

        import_openvino()
    if fmt == "savedmodel":
        check_output_folder(path, overwrite, "export")
    else:
        for written in (path, companion(path, fmt)):
            if written is not None:
                check_writable(written, overwrite)
    return fmt


def export(
    model,
    path: str | os.PathLike,
    fmt: str | None = None,
    overwrite: bool = False,
    source: str | None = None,
    labels: list[str] | None = None,
    verify: bool = False,
    say=None,
) -> Path:
    """Export ``model``'s probabilities to ``path`` in ``fmt``, atomically.

    Every format is a served model (``export.serving``): slim's eval preprocessing inside. A
    SavedModel takes encoded images and gives probabilities and the top 5 labelled; ONNX,
    LiteRT and OpenVINO IR take uint8 images at their own size and give probabilities, the
    labels inside the file.

    Args:
        model: a ``keras.Model`` classifier (logits or probabilities out).
        path: a SavedModel folder, a ``.tflite``, ``.onnx`` or ``.xml`` file (an IR's ``.bin``
            is written beside it).
        fmt: ``savedmodel``, ``litert``, ``onnx`` (the ``export`` extra) or ``openvino`` (the
            ``openvino`` extra); by default the one ``path``'s extension names.
        overwrite: replace an earlier export at ``path`` (a folder only if this command
            wrote it: it carries ``files.OWNER_MARK``, with ``source`` recorded).
        source: the weights exported, recorded in a SavedModel's mark.
        labels: the label of each output index, carried by the file (default: ImageNet's
            synsets for 1001 or 1000 classes, else ``class i``).
        verify: before the file takes its name, run it on its own runtime against ``model``
            (``export.verify``); a float32 file beyond the tolerance is not kept.
        say: called with the verification's line (default: not shown).

    Returns:
        ``path``.

    Raises:
        ExportMismatch: ``verify`` found the file beyond the tolerance (nothing written).
        As ``check_export``.
    """
    fmt = check_export(path, fmt, overwrite)
    serving = serving_model(model)
    if None not in serving.input.shape[1:]:
        serving(np.zeros((1, *serving.input.shape[1:]), "float32"))  # a called model converts
    labels = labels or _default_labels(serving)
    if fmt == "savedmodel":
        from inception_v2.export.serving import write_served_saved_model

        with atomic_folder(path, overwrite, "export", format=fmt, weights=source) as staging:
            os.rmdir(staging)  # the SavedModel writer makes its folder itself
            write_served_saved_model(serving, staging, labels)
            if verify:
                _verified(serving, staging, path, say)
        return Path(path)
    from inception_v2.export import serving as writers

    write = {
        "onnx": writers.write_onnx,
        "litert": writers.write_litert,
        "openvino": writers.write_openvino,
    }[fmt]
    second = companion(path, fmt)
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            write(serving, tmp, labels)
            if verify:
                _verified(serving, tmp, path, say)
            if second is not None:  # in place before the .xml that names it
                if second.exists() and not overwrite:
                    raise OutputExists(f"{second}: appeared while writing; left untouched")
                os.replace(companion(tmp, fmt), second)
        finally:
            if second is not None:
                companion(tmp, fmt).unlink(missing_ok=True)
    return Path(path)


def _default_labels(serving) -> list[str]:
    from inception_v2.data.labels import IMAGENET_HEADS, class_ids

    classes = int(serving.output.shape[-1])
    return class_ids(classes) if classes in IMAGENET_HEADS else [f"class {i}" for i in range(classes)]


def _verified(serving, written: Path, path, say) -> None:
    """Verify the file at ``written`` (still under its temporary name) as ``path``."""
    from inception_v2.export.verify import verify_export

    agreement = verify_export(serving, written)
    if say is not None:
        say(agreement.line())
    if not agreement.passed:
        raise ExportMismatch(f"{path}: not written; {agreement.line().removeprefix('verify: ')}")
