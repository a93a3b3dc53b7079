"""Fine-tuning InceptionV2 on new classes, with slim's regularisation and safe defaults.

The classifier keeps slim's layout and names (its head is slim's ``Logits`` scope with
N classes, as ``train_image_classifier.py --checkpoint_exclude_scopes=InceptionV2/Logits``
re-initialises it), so a fine-tuned file converts, evaluates and exports like any other.
Batch norm stays in inference mode by default: slim's decay 0.9997 barely moves in a
short run and small batches give noisy statistics.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from inception_v2.errors import InvalidArgument
from inception_v2.model.architecture import DEFAULT_IMAGE_SIZE
from inception_v2.model.network import BASE_END_POINTS, build_inception_v2, scoped
from inception_v2.weights.factory import build_from_weights

#: slim's ``weight_decay``: ``4e-5 * tf.nn.l2_loss(w)`` = ``4e-5 * sum(w**2) / 2``.
SLIM_WEIGHT_DECAY = 4e-5
TRAIN_CHOICES = ("head", "all", *BASE_END_POINTS)


def _first_trainable_index(model: keras.Model, train: str) -> int:
    """Index in ``model.layers`` of the first layer that trains."""
    if train == "all":
        return 0
    prefix = "Logits" if train == "head" else train
    for i, layer in enumerate(model.layers):
        if layer.name == prefix or layer.name.startswith(scoped(prefix, "")):
            return i
    raise InvalidArgument(f"train={train!r}: no such end point; expected one of {', '.join(TRAIN_CHOICES)}")


def build_classifier(
    num_classes: int,
    weights: str | os.PathLike | None = "imagenet",
    train: str = "head",
    train_batch_norm: bool = False,
    batch_norm_momentum: float = 0.99,
    weight_decay: float = SLIM_WEIGHT_DECAY,
    dropout_keep_prob: float = 0.8,
    input_shape: tuple[int, int, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE, 3),
    dtype: str | None = None,
) -> keras.Model:
    """InceptionV2 with a new ``num_classes`` head on pretrained ``weights``; outputs logits.

    The base is the network the weights' shapes imply (depth multiplier, minimum depth, stem),
    as ``InceptionV2(weights=...)`` builds it; only the head is new.

    Args:
      num_classes: the size of the new head.
      weights: ``"imagenet"``, a slim checkpoint or a converted or fine-tuned file; ``None``:
        random weights, slim's full-depth network.
      train: what trains: ``"head"`` (the Logits layer only), ``"all"``, or an end point
        such as ``"Mixed_5a"`` (it and everything after it).
      train_batch_norm: let batch norm in the trained part update its statistics, with
        ``batch_norm_momentum`` (TF-Hub's fine-tuning default 0.99). Otherwise every
        batch norm is frozen and runs in inference mode (Keras 3 ``trainable=False``).
      weight_decay: slim's L2 on conv kernels (applied as Keras ``L2(weight_decay / 2)``).
      dtype: e.g. ``"mixed_bfloat16"`` (CPU) or ``"mixed_float16"`` (GPU); batch norm and
        the logits stay float32.

    Returns:
      The model, its base loaded and frozen up to ``train``, its head zero.

    Raises:
      InvalidArgument: an unknown ``train``.
      CheckpointError, MissingFile: weights that cannot be read or are not Inception V2's.
    """
    if train not in TRAIN_CHOICES:
        raise InvalidArgument(f"train={train!r}; expected one of {', '.join(TRAIN_CHOICES)}")
    arguments = dict(
        include_top=True,
        input_shape=input_shape,
        classes=num_classes,
        classifier_activation=None,
        dropout_keep_prob=dropout_keep_prob,
        dtype=dtype,
        name="inception_v2_classifier",
    )
    if weights is None:
        model = build_inception_v2(**arguments)
    else:  # As slim's train_image_classifier --checkpoint_exclude_scopes=InceptionV2/Logits.
        model, _, _ = build_from_weights(weights, exclude_scopes=("Logits",), **arguments)
    # A zero head starts at chance (loss ln N) instead of at the random logits of a
    # freshly initialised layer on large pretrained features, which can diverge.
    head = model.get_layer(scoped("Logits", "Conv2d_1c_1x1"))
    head.set_weights([np.zeros(w.shape, "float32") for w in head.get_weights()])
    start = _first_trainable_index(model, train)
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    for i, layer in enumerate(model.layers):
        trains = i >= start
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = trains and train_batch_norm
            layer.momentum = batch_norm_momentum
        else:
            layer.trainable = trains
        # slim regularises conv2d kernels only: not the separable stem, not biases.
        if trains and regularizer is not None and type(layer) is keras.layers.Conv2D:
            layer.kernel.regularizer = regularizer
    return model
