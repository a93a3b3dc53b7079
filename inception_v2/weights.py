"""Resolving ``InceptionV2(weights=...)``: "imagenet", slim checkpoints, converted files.

Every source is read as ``{slim variable name: array}`` and assigned strictly, so a
headless model, another input size or a 1000-class subset all load from one file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

from inception_v2.checkpoint import (
    CheckpointConfig,
    CheckpointError,
    LoadReport,
    assign_checkpoint,
    infer_config,
    model_variable_map,
    read_checkpoint,
)
from inception_v2.download import RemoteFile, cache_dir, fetch

IMAGENET_WEIGHTS = "inception_v2_imagenet.weights.h5"


def read_keras_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from a converted ``.weights.h5`` or ``.keras`` file.

    ``.keras`` files are loaded in Keras' safe mode (no arbitrary code). A
    ``.weights.h5`` must carry the model arguments the converter records.
    """
    from inception_v2.convert import CONFIG_ATTRIBUTE
    from inception_v2.model import InceptionV2, image_shape

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        if path.name.endswith(".keras"):
            source = keras.saving.load_model(path, compile=False, safe_mode=True)
        else:
            import h5py

            with h5py.File(path, "r") as f:
                config = f.attrs.get(CONFIG_ATTRIBUTE)
            if config is None:
                raise CheckpointError(
                    f"{path}: no '{CONFIG_ATTRIBUTE}' attribute; not written by inception-v2 convert"
                    " (load it with model.load_weights instead)"
                )
            kwargs = json.loads(config)
            classes = kwargs.pop("classes")
            source = InceptionV2(
                include_top=classes is not None,
                classes=classes or 1,
                input_shape=image_shape(None, None),
                spatial_squeeze=False,
                **kwargs,
            )
            source.load_weights(path)
    except (OSError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable Keras weights file ({e})") from None
    return {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in model_variable_map(source).items()}


def read_any(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from a slim checkpoint or a converted Keras file."""
    if str(path).endswith((".weights.h5", ".keras")):
        return read_keras_weights(path)
    return read_checkpoint(path)


def imagenet_weights_path(remote: RemoteFile | None = None, directory: Path | None = None) -> Path:
    """Slim's ImageNet weights as a converted ``.weights.h5`` in the cache.

    Downloads and verifies slim's tarball once, converts it once, then reuses both.
    ``remote`` defaults to ``download.IMAGENET_CHECKPOINT`` (looked up at call time).
    """
    from inception_v2 import download
    from inception_v2.convert import convert_checkpoint

    remote = remote or download.IMAGENET_CHECKPOINT
    directory = Path(directory) if directory is not None else cache_dir()
    converted = directory / IMAGENET_WEIGHTS
    if not converted.exists():
        tarball = fetch(remote, directory)
        convert_checkpoint(tarball, converted)
    return converted


def resolve(weights: str | os.PathLike) -> Path:
    """The file behind ``weights``: "imagenet" is fetched and converted once."""
    return imagenet_weights_path() if str(weights) == "imagenet" else Path(weights)


def load_weights(model: keras.Model, weights: str | os.PathLike, use_ema: bool = False) -> LoadReport:
    """Load ``weights`` ("imagenet" or a path) into ``model``, every variable checked."""
    path = resolve(weights)
    return assign_checkpoint(model, read_any(path), use_ema=use_ema, source=str(path))


def build_from_weights(
    weights: str | os.PathLike, use_ema: bool = False, **model_kwargs
) -> tuple[keras.Model, CheckpointConfig, LoadReport]:
    """Build the InceptionV2 that ``weights``' shapes imply (classes, depth...) and load it.

    ``model_kwargs`` override or add arguments (input size, classifier_activation, ...).
    """
    from inception_v2.model import InceptionV2

    path = resolve(weights)
    variables = read_any(path)
    config = infer_config(variables)
    model = InceptionV2(weights=None, **{**config.model_kwargs(), **model_kwargs})
    report = assign_checkpoint(model, variables, use_ema=use_ema, source=str(path))
    return model, config, report
