"""``InceptionV2(weights=...)`` in one direction: resolve the source, read arrays, assign.

1. ``resolve``: ``"imagenet"`` becomes slim's checkpoint, downloaded (SHA-384 checked) and
   converted once into the cache; anything else is a path.
2. ``read_weights``: the file becomes ``{slim variable name: array}``, whatever it is (slim
   checkpoint: V1 file, V2 prefix, directory, tarball; converted ``.weights.h5`` / ``.keras``).
3. ``checkpoint.assign_checkpoint``: every model variable set from those arrays, strictly.

So a headless model, another input size or a 1000-class subset all load from one file.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from inception_v2.checkpoint import (
    LoadReport,
    assign_checkpoint,
    infer_config,
    read_checkpoint,
)
from inception_v2.download import RemoteFile, cache_dir, fetch
from inception_v2.keras_weights import is_keras_weights, read_keras_weights, save_weights

IMAGENET_WEIGHTS = "inception_v2_imagenet.weights.h5"


def resolve(weights: str | os.PathLike) -> Path:
    """The file behind ``weights``: "imagenet" is fetched and converted once."""
    return imagenet_weights_path() if str(weights) == "imagenet" else Path(weights)


def read_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from a slim checkpoint or a converted Keras file."""
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
    from inception_v2 import download

    remote = remote or download.IMAGENET_CHECKPOINT
    directory = Path(directory) if directory is not None else cache_dir()
    converted = directory / IMAGENET_WEIGHTS
    if not converted.exists():
        from inception_v2.network import build_inception_v2  # a downward import: the cache's format

        tarball = fetch(remote, directory)
        variables = read_checkpoint(tarball)
        config = infer_config(variables)
        model = build_inception_v2(**config.model_kwargs())
        assign_checkpoint(model, variables, source=str(tarball))
        save_weights(model, converted, asdict(config))
    return converted
