"""The classifier of some weights as ``eval``, ``predict``, ``explain`` and ``quantize`` run it:
built in the precision and for the engine that will run it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from inception_v2.errors import InvalidArgument
from inception_v2.precision import model_options
from inception_v2.weights.factory import build_from_weights

if TYPE_CHECKING:
    import keras


def classifier(
    weights: str | os.PathLike, precision: str = "float32", engine: str = "keras", **model_kwargs
) -> tuple[keras.Model, int]:
    """The classifier of ``weights`` as eval and predict run it, and its number of classes.

    Args:
        weights: ``"imagenet"`` or a path, as for ``InceptionV2``.
        precision, engine: what the model will run in and on (``precision.model_options``:
            bfloat16 on Keras builds the fast path).
        **model_kwargs: as for ``build_from_weights`` (``classifier_activation``, ...).

    Returns:
        The model and the size of its label space.

    Raises:
        InvalidArgument: weights without a ``Logits`` layer (a feature extractor).
        CheckpointError, MissingFile: weights that cannot be read or do not fit.
    """
    options = model_options(precision, engine)
    model, config, _ = build_from_weights(weights, **options, **model_kwargs)
    if config.classes is None:
        raise InvalidArgument(f"{weights}: has no Logits layer; cannot classify")
    return model, config.classes
