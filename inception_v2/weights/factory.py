"""``InceptionV2(weights=...)``, in the style of ``keras.applications``, and
``build_from_weights``: build, then load.

Building and loading are separate (timm's principle): ``model.network`` only builds the Keras
model, ``weights.loading`` only reads and assigns arrays; this factory is the one place that
composes them.
"""

from __future__ import annotations

import os

import keras

from inception_v2.errors import CheckpointError
from inception_v2.model.architecture import NUM_CLASSES
from inception_v2.model.initializers import for_loading
from inception_v2.model.network import build_inception_v2
from inception_v2.weights.checkpoint import CheckpointConfig, LoadReport, assign_checkpoint, infer_config
from inception_v2.weights.keras_files import is_keras_weights
from inception_v2.weights.loading import load_weights, read_weights, resolve


def InceptionV2(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: tuple[int | None, int | None, int] | None = None,
    pooling: str | None = None,
    classes: int = NUM_CLASSES,
    classifier_activation: str | None = "softmax",
    **network_options,
) -> keras.Model:
    """Instantiates slim's Inception V2, in the style of ``keras.applications``.

    Args:
      include_top: whether to include slim's ``Logits`` head.
      weights: ``None`` (random), ``"imagenet"`` (slim's official checkpoint, downloaded
        and converted once), or a path to a slim checkpoint (V1 file, V2 prefix,
        directory, ``.tar.gz``) or to converted ``.weights.h5`` / ``.keras`` weights.
      input_tensor, input_shape, pooling, classes, classifier_activation: as in
        ``keras.applications`` (see ``network.build_inception_v2``).
      **network_options: slim's own arguments (``depth_multiplier``, ``min_depth``,
        ``use_separable_conv``, ``dropout_keep_prob``, ``global_pool``, ``spatial_squeeze``)
        and the variants (``fold_batch_norm``, ``dtype``, ``name``, ``batch_norm``,
        ``activation``): see ``network.build_inception_v2``.

    Returns:
      The ``keras.Model``, with ``weights`` loaded (every variable checked) if given.

    Raises:
      InvalidArgument: an argument out of range.
      CheckpointError: weights that do not fit the network, or slim's ReLU weights asked
        into the sigmoid variant.
      DownloadError: ``"imagenet"`` offline, before the file was placed by hand.
    """
    with for_loading(weights is not None):  # the load assigns every variable
        model = build_inception_v2(
            include_top=include_top,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            **network_options,
        )
    if weights is not None:
        activation = network_options.get("activation", "relu")
        if activation != "relu" and not is_keras_weights(weights):
            raise CheckpointError(
                f"{weights}: slim's checkpoints were trained with ReLU; activation={activation!r} "
                "builds another network (train it from scratch, as inception-v2 bn-study does)"
            )
        load_weights(model, weights)
    return model


def build_from_weights(
    weights: str | os.PathLike,
    use_ema: bool = False,
    exclude_scopes: tuple[str, ...] = (),
    **model_kwargs,
) -> tuple[keras.Model, CheckpointConfig, LoadReport]:
    """Build the network that ``weights``' shapes imply (classes, depth...) and load it.

    Args:
        weights: ``"imagenet"`` or a path, as for ``InceptionV2``.
        use_ema: take each variable's moving-average shadow.
        exclude_scopes: slim scopes left as built (``("Logits",)`` with ``classes=N``: a new
            head on the weights' base, as slim's ``--checkpoint_exclude_scopes``).
        **model_kwargs: override or add arguments (input size, classifier_activation, ...).

    Returns:
        The model, the configuration read off the shapes, and what was assigned.

    Raises:
        CheckpointError, MissingFile: weights that cannot be read or do not fit.
    """
    path = resolve(weights)
    variables = read_weights(path)
    try:
        config = infer_config(variables)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    # Excluded scopes keep the draws of a fresh network; everything else is assigned next.
    with for_loading(not exclude_scopes):
        model = build_inception_v2(**{**config.model_kwargs(), **model_kwargs})
    report = assign_checkpoint(
        model, variables, use_ema=use_ema, source=str(path), exclude_scopes=exclude_scopes
    )
    return model, config, report
