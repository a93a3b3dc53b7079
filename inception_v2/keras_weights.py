"""Converted weights files: ``.weights.h5`` (with the model arguments) and ``.keras``.

Keras' ``.weights.h5`` names its arrays by layer class and position, not by layer name,
so it can only be read through a model of the same structure: ``read_keras_weights``
builds that model from the arguments the file records, then hands back slim-named arrays.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

from inception_v2.checkpoint import CheckpointError, model_variable_map
from inception_v2.errors import MissingFile
from inception_v2.files import atomic_path

CONFIG_ATTRIBUTE = "inception_v2_config"  # HDF5 attribute holding the model arguments
SUFFIXES = (".weights.h5", ".keras")


def is_keras_weights(path: str | os.PathLike) -> bool:
    """True for a path named like a converted file (``.weights.h5`` or ``.keras``)."""
    return str(path).endswith(SUFFIXES)


def save_weights(
    model: keras.Model, destination: str | os.PathLike, config: dict, overwrite: bool = False
) -> Path:
    """Save ``model`` as ``.weights.h5`` (with its arguments as an attribute) or ``.keras``.

    Written under a temporary name and renamed, so no half-written file is left.
    """
    import h5py

    destination = Path(destination)
    with atomic_path(destination, overwrite=overwrite) as tmp:
        if destination.name.endswith(".keras"):
            model.save(tmp)
        else:
            model.save_weights(tmp)
            with h5py.File(tmp, "a") as f:
                f.attrs[CONFIG_ATTRIBUTE] = json.dumps(config)
    return destination


def read_keras_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from a converted ``.weights.h5`` or ``.keras`` file.

    ``.keras`` files are loaded in Keras' safe mode (no arbitrary code). A
    ``.weights.h5`` must carry the model arguments the converter records.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"{path}: no such weights file")
    try:
        if path.name.endswith(".keras"):
            source = keras.saving.load_model(path, compile=False, safe_mode=True)
        else:
            source = _model_for(path)
            source.load_weights(path)
    except (OSError, ValueError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable Keras weights file ({e})") from None
    return {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in model_variable_map(source).items()}


def _model_for(path: Path) -> keras.Model:
    """The model whose structure ``path`` (a ``.weights.h5``) was saved from."""
    import h5py

    from inception_v2.model import InceptionV2, image_shape  # the file format needs the builder

    with h5py.File(path, "r") as f:
        config = f.attrs.get(CONFIG_ATTRIBUTE)
    if config is None:
        raise CheckpointError(
            f"{path}: no '{CONFIG_ATTRIBUTE}' attribute; not written by inception-v2 convert"
            " (load it with model.load_weights instead)"
        )
    kwargs = json.loads(config)
    classes = kwargs.pop("classes")
    return InceptionV2(
        include_top=classes is not None,
        classes=classes or 1,
        input_shape=image_shape(None, None),
        spatial_squeeze=False,
        **kwargs,
    )
