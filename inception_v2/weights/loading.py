"""``InceptionV2(weights=...)`` in one direction: resolve the source, read arrays, assign.

1. ``resolve``: ``"imagenet"`` becomes slim's checkpoint, downloaded (SHA-384 checked) and
   converted once into the cache; anything else is a path.
2. ``read_weights``: the file becomes ``{slim variable name: array}``, whatever it is (slim
   checkpoint: V1 file, V2 prefix, directory, tarball; converted ``.weights.h5`` / ``.keras``;
   a KerasHub preset folder, read by the reader ``inception_v2.hub.models`` registers as it loads).
3. ``checkpoint.assign_checkpoint``: every model variable set from those arrays, strictly.

So a headless model, another input size or a 1000-class subset all load from one file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from inception_v2.errors import CheckpointError, MissingExtra
from inception_v2.weights.checkpoint import (
    LoadReport,
    assign_checkpoint,
    infer_config,
    read_checkpoint,
)
from inception_v2.weights.download import RemoteFile, cache_dir, fetch
from inception_v2.weights.keras_files import is_keras_weights, read_keras_weights, save_weights

IMAGENET_WEIGHTS = "inception_v2_imagenet.weights.h5"
#: Files of ``inception-v2 export`` (ONNX, LiteRT, OpenVINO IR), beside SavedModel folders.
EXPORTED_SUFFIXES = (".onnx", ".tflite", ".xml")
#: The weight files of a KerasHub preset folder (the backbone's, the classifier head's).
PRESET_WEIGHT_FILES = ("model.weights.h5", "task.weights.h5")

#: How a KerasHub preset folder becomes ``{slim name: array}``: set by ``inception_v2.hub.models``
#: when it loads (KerasHub reads its own files; this layer stays below it).
_preset_reader: Callable[[Path], dict[str, np.ndarray]] | None = None


def register_preset_reader(reader: Callable[[Path], dict[str, np.ndarray]]) -> None:
    """Let ``read_weights`` read KerasHub preset folders with ``reader``."""
    global _preset_reader
    _preset_reader = reader


def preset_folder(path: str | os.PathLike) -> Path | None:
    """The KerasHub preset folder ``path`` names - the folder, or one of its weight files
    (``model.weights.h5`` alone holds no head: the folder is what its user means) - or None."""
    path = Path(path)
    folder = path.parent if path.name in PRESET_WEIGHT_FILES else path
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return folder if isinstance(config, dict) and "registered_name" in config else None


def resolve(weights: str | os.PathLike) -> Path:
    """The file behind ``weights``: "imagenet" is fetched and converted once; a weight file
    inside a KerasHub preset stands for its folder."""
    if str(weights) == "imagenet":
        return imagenet_weights_path()
    return preset_folder(weights) or Path(weights)


def read_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from a slim checkpoint, a converted Keras file or a KerasHub
    preset folder.

    Raises:
        CheckpointError, MissingFile: weights that cannot be read; a SavedModel (an export).
        MissingExtra: a preset folder while ``inception_v2.hub.models`` is not loaded.
    """
    exported = (Path(path) / "saved_model.pb").is_file() or Path(path).suffix.lower() in EXPORTED_SUFFIXES
    if exported:  # inference.served runs these; no weights are read out of them
        raise CheckpointError(
            f"{path}: an exported model (what inception-v2 export writes): eval and predict run it as it "
            "is; this needs the weights it was exported from"
        )
    if (folder := preset_folder(path)) is not None:
        if _preset_reader is None:
            raise MissingExtra.named("hub", f"{folder}: a KerasHub preset; reading it needs keras-hub")
        return _preset_reader(folder)
    return read_keras_weights(path) if is_keras_weights(path) else read_checkpoint(path)


def load_weights(
    model: keras.Model,
    weights: str | os.PathLike,
    use_ema: bool = False,
    exclude_scopes: tuple[str, ...] = (),
) -> LoadReport:
    """Load ``weights`` into ``model``, every variable checked.

    Args:
        model: a network built by ``network.build_inception_v2`` (slim's layer names).
        weights: ``"imagenet"`` or a path: a slim checkpoint, a converted or fine-tuned file.
        use_ema: take each variable's moving-average shadow.
        exclude_scopes: slim scopes left as built (``("Logits",)``: a new head, as slim's
            ``--checkpoint_exclude_scopes``).

    Returns:
        What was assigned and what was ignored.

    Raises:
        CheckpointError, MissingFile: weights that cannot be read or do not fit.
    """
    path = resolve(weights)
    return assign_checkpoint(
        model, read_weights(path), use_ema=use_ema, source=str(path), exclude_scopes=exclude_scopes
    )


def imagenet_weights_path(remote: RemoteFile | None = None, directory: Path | None = None) -> Path:
    """Slim's ImageNet weights as a converted ``.weights.h5`` in the cache.

    Downloads and verifies slim's tarball once, converts it once, then reuses both.
    ``remote`` defaults to ``download.IMAGENET_CHECKPOINT`` (looked up at call time).
    """
    from inception_v2.weights import download

    remote = remote or download.IMAGENET_CHECKPOINT
    directory = Path(directory) if directory is not None else cache_dir()
    converted = directory / IMAGENET_WEIGHTS
    if not converted.exists():
        from inception_v2.model.network import build_inception_v2  # a downward import: the cache's format

        tarball = fetch(remote, directory)
        variables = read_checkpoint(tarball)
        config = infer_config(variables)
        model = build_inception_v2(**config.model_kwargs())
        assign_checkpoint(model, variables, source=str(tarball))
        save_weights(model, converted, asdict(config))
    return converted
