"""Inception V2 (BN-Inception) exactly as TF-slim builds it, in pure Keras 3: the network,
built, never loaded (``model.InceptionV2`` composes this builder with the weights layer).

The network follows ``tf_slim.nets.inception_v2`` under ``inception_v2_arg_scope()``:
SAME padding everywhere, every convolution but the first followed by batch norm
without gamma (epsilon 1e-3) and ReLU, a biased separable ``Conv2d_1a_7x7`` without
batch norm, and a biased 1x1 convolution as classifier.

Layer names are slim's variable scopes with ``/`` written as ``__`` (Keras forbids
``/``, PyTorch forbids ``.``), so that ``Mixed_3b__Branch_1__Conv2d_0a_1x1`` holds the variables of
``InceptionV2/Mixed_3b/Branch_1/Conv2d_0a_1x1``. ``checkpoint.slim_variable_name``
turns that rule into the full slim↔Keras mapping.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras
from keras import layers

from inception_v2.errors import InvalidArgument
from inception_v2.model.architecture import (  # noqa: F401  (names re-exported for users of model)
    BASE_END_POINTS,
    BLOCK_LAYERS,
    BN_EPSILON,
    BN_MOMENTUM,
    DEFAULT_IMAGE_SIZE,
    DEPTH_MULTIPLIER,
    END_POINTS,
    MIN_DEPTH,
    MIXED_BLOCKS,
    NUM_CLASSES,
    POOL_NAMES,
    SCOPE_SEPARATOR,
    STEM_CONVS,
    STEM_DEPTH,
    depth_fn,
    scoped,
)
from inception_v2.model.initializers import kernel_initializer, name_keras_initializer

#: What ``activation=`` takes: slim's ReLU, or the sigmoid of the paper's BN-x5-Sigmoid.
ACTIVATIONS = {"relu": "Relu", "sigmoid": "Sigmoid"}  # name -> the scope slim gives its op


def channel_axis() -> int:
    """The channel axis of Keras' image data format (``keras.config.image_data_format()``)."""
    return 1 if keras.config.image_data_format() == "channels_first" else -1


def image_shape(height: int | None, width: int | None, channels: int = 3) -> tuple:
    """An input shape in Keras' image data format: ``(H, W, C)`` or ``(C, H, W)``."""
    if keras.config.image_data_format() == "channels_first":
        return (channels, height, width)
    return (height, width, channels)


def spatial_size(x) -> tuple:
    """``(H, W)`` of an image tensor in Keras' image data format."""
    return tuple(x.shape[2:4] if channel_axis() == 1 else x.shape[1:3])


def at_least_float32(dtype: str) -> str:
    """``"float32"`` for a 16-bit dtype policy, else ``dtype`` itself (float32 or float64).

    Layers that must not lose precision (the stem, the classifier) take this dtype, so a
    float64 model stays float64 throughout (a reference for measuring float32 error).
    """
    low = keras.dtype_policies.get(dtype).compute_dtype in ("float16", "bfloat16")
    return "float32" if low else dtype


def model_data_format(model: keras.Model) -> str:
    """``"channels_first"`` or ``"channels_last"``: the layout ``model``'s images must have."""
    for layer in model.layers:
        if getattr(layer, "data_format", None) in ("channels_first", "channels_last"):
            return layer.data_format
    return "channels_last"


def activation_layer(x, activation: str, name: str, dtype: str | None = None):
    """The nonlinearity after a convolution, named as slim names its op (``Relu``, ``Sigmoid``)."""
    scope = scoped(name, ACTIVATIONS[activation])
    if activation == "relu":
        return layers.ReLU(dtype=dtype, name=scope)(x)
    return layers.Activation(activation, dtype=dtype, name=scope)(x)


def conv2d_bn(
    x,
    filters: int,
    kernel_size: int,
    name: str,
    strides: int = 1,
    fold_batch_norm: bool = False,
    dtype: str | None = None,
    batch_norm: bool = True,
    activation: str = "relu",
):
    """slim.conv2d under inception_v2_arg_scope: conv (no bias) -> BatchNorm -> ReLU.

    With ``fold_batch_norm`` (inference only) the batch norm lives in the conv's kernel
    and bias (see ``checkpoint.fold_batch_norm``): one pass over the activations less.
    ``batch_norm=False`` (the paper's Inception baseline) gives the conv a bias instead.
    """
    conv = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=fold_batch_norm or not batch_norm,
        kernel_initializer=kernel_initializer(),
        dtype=dtype,
        name=name,
    )
    x = conv(x)
    name_keras_initializer(conv)
    if batch_norm and not fold_batch_norm:
        x = layers.BatchNormalization(
            axis=channel_axis(),
            momentum=BN_MOMENTUM,
            epsilon=BN_EPSILON,
            scale=False,
            dtype=dtype,
            name=scoped(name, "BatchNorm"),
        )(x)
    return activation_layer(x, activation, name, dtype)


def _pool(kind: str, x, name: str, strides: int = 1, dtype: str | None = None):
    pool = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    return pool(pool_size=3, strides=strides, padding="same", dtype=dtype, name=name)(x)


def mixed_block(
    x, name: str, kind: str, depths: Sequence[int], pool: str, depth, conv=conv2d_bn, dtype: str | None = None
):
    """A Mixed block: the branches of ``BLOCK_LAYERS[kind]`` side by side, concatenated.

    inception: 1x1 | 1x1-3x3 | 1x1-3x3-3x3 | pool-1x1; reduction: 1x1-3x3/2 | 1x1-3x3-3x3/2 |
    maxpool/2. ``depths`` are in slim's base units (see ``architecture.MIXED_BLOCKS``).
    """
    branches = {}
    for scope, index, kernel, strides in BLOCK_LAYERS[kind]:
        branch = scope.split("/")[0]
        y = branches.get(branch, x)
        layer_name = scoped(name, scope.format(Pool=POOL_NAMES[pool]))
        if index is None:
            y = _pool(pool, y, layer_name, strides, dtype)
        else:
            y = conv(y, depth(depths[index]), kernel, layer_name, strides=strides, dtype=dtype)
        branches[branch] = y
    return layers.Concatenate(axis=channel_axis(), dtype=dtype, name=name)(list(branches.values()))


def inception_v2_base(
    inputs,
    depth_multiplier: float = DEPTH_MULTIPLIER,
    min_depth: int = MIN_DEPTH,
    use_separable_conv: bool = True,
    fold_batch_norm: bool = False,
    batch_norm: bool = True,
    activation: str = "relu",
    dtype: str | None = None,
):
    """slim's ``inception_v2_base``: from images to ``Mixed_5c``.

    ``dtype``: the layers' dtype policy (default: Keras' global one, read once).
    """
    dtype = dtype or keras.config.dtype_policy().name
    depth = depth_fn(depth_multiplier, min_depth)
    conv = functools.partial(
        conv2d_bn, fold_batch_norm=fold_batch_norm, batch_norm=batch_norm, activation=activation
    )
    # The stem sees raw pixels and (in slim's weights) large activations; under a
    # bfloat16/float16 policy it stays float32: it costs ~2 % of the FLOPs and keeps
    # the low-precision path closer to float32.
    stem_dtype = at_least_float32(dtype)
    name = "Conv2d_1a_7x7"
    if use_separable_conv:
        # Not covered by slim's arg_scope: biased, no batch norm.
        x = layers.SeparableConv2D(
            depth(STEM_DEPTH),
            7,
            strides=2,
            padding="same",
            depth_multiplier=min(depth(STEM_DEPTH) // 3, 8),
            use_bias=True,
            dtype=stem_dtype,
            name=name,
        )(inputs)
        x = activation_layer(x, activation, name, stem_dtype)
    else:
        x = conv(inputs, depth(STEM_DEPTH), 7, name, strides=2, dtype=stem_dtype)
    x = _pool("max", x, "MaxPool_2a_3x3", strides=2, dtype=dtype)
    for scope, base_depth, kernel in STEM_CONVS:
        x = conv(x, depth(base_depth), kernel, scope, dtype=dtype)
    x = _pool("max", x, "MaxPool_3a_3x3", strides=2, dtype=dtype)
    for block, kind, depths, pool in MIXED_BLOCKS:
        x = mixed_block(x, block, kind, depths, pool, depth, conv, dtype)
    return x


def logits_head(
    x, classes: int, dropout_keep_prob: float, global_pool: bool, spatial_squeeze: bool, dtype: str
):
    """slim's ``Logits`` scope: pool, dropout, biased 1x1 conv, optional squeeze."""
    if global_pool:
        x = layers.GlobalAveragePooling2D(keepdims=True, dtype=dtype, name=scoped("Logits", "global_pool"))(x)
    else:
        # slim: VALID pool with kernel min(size, 7) and slim's default stride 2;
        # 7x7 when the size is not known statically.
        kh, kw = (min(s, 7) if s is not None else 7 for s in spatial_size(x))
        x = layers.AveragePooling2D(
            pool_size=(kh, kw),
            strides=2,
            padding="valid",
            dtype=dtype,
            name=scoped("Logits", f"AvgPool_1a_{kh}x{kw}"),
        )(x)
    x = layers.Dropout(1.0 - dropout_keep_prob, dtype=dtype, name=scoped("Logits", "Dropout_1b"))(x)
    # The classifier runs in float32 whatever the policy: logits are compared and argmaxed.
    x = layers.Conv2D(
        classes, 1, use_bias=True, dtype=at_least_float32(dtype), name=scoped("Logits", "Conv2d_1c_1x1")
    )(x)
    if spatial_squeeze:
        h, w = spatial_size(x)
        if (h, w) not in ((1, 1), (None, None), (1, None), (None, 1)):
            raise InvalidArgument(
                f"spatial_squeeze=True needs 1x1 logits, but this input size gives {h}x{w} "
                "logits; pass spatial_squeeze=False (or global_pool=True)."
            )
        squeeze = scoped("Logits", "SpatialSqueeze")
        x = layers.Reshape((classes,), dtype=at_least_float32(dtype), name=squeeze)(x)
    return x


def build_inception_v2(
    include_top: bool = True,
    input_tensor=None,
    input_shape: tuple[int | None, int | None, int] | None = None,
    pooling: str | None = None,
    classes: int = NUM_CLASSES,
    classifier_activation: str | None = "softmax",
    depth_multiplier: float = DEPTH_MULTIPLIER,
    min_depth: int = MIN_DEPTH,
    use_separable_conv: bool = True,
    dropout_keep_prob: float = 0.8,
    global_pool: bool = False,
    spatial_squeeze: bool = True,
    fold_batch_norm: bool = False,
    dtype: str | None = None,
    name: str = "inception_v2",
    batch_norm: bool = True,
    activation: str = "relu",
) -> keras.Model:
    """slim's Inception V2 with freshly initialised weights (``model.InceptionV2`` loads them).

    Args:
      include_top: whether to include slim's ``Logits`` head.
      input_tensor: optional Keras tensor to use as image input.
      input_shape: ``(H, W, 3)``, or ``(3, H, W)`` under ``channels_first``
        (``keras.config.image_data_format()``, which also sets the layout of every layer;
        kernels keep Keras' layout, so the same weights load in both); defaults to
        224x224 with the top, any size without.
      pooling: with ``include_top=False``: ``None`` (4-D ``Mixed_5c``), ``"avg"`` or ``"max"``.
      classes: number of classes; 1001 is slim's ImageNet head (0 = background).
      classifier_activation: activation of the top (``"softmax"``), or ``None`` for logits.
      depth_multiplier, min_depth, use_separable_conv, dropout_keep_prob, global_pool,
        spatial_squeeze: slim's own arguments, with slim's defaults.
      fold_batch_norm: inference only: fold each batch norm into its convolution when
        weights are loaded (fewer passes over memory; same function up to float rounding).
      dtype: Keras dtype policy of the layers: ``"bfloat16"`` for inference on CPUs with
        AMX/AVX512-BF16 (see ``precision.FAST_INFERENCE``), ``"mixed_bfloat16"`` / ``"mixed_float16"``
        for training; logits stay float32. Default: the global policy.
      name: model name.
      batch_norm, activation: the variants that Batch Normalization's paper compares
        (``inception_v2.studies.bn.study``): ``batch_norm=False`` gives every convolution a bias
        instead of a batch norm (the paper's "Inception"), ``activation="sigmoid"`` replaces
        every ReLU. slim's checkpoint loads into ``batch_norm=False`` with each batch norm
        folded into its convolution's bias (as ``fold_batch_norm``: slim's inference function,
        a BN-free start for training); ``activation="sigmoid"`` refuses it.

    Inputs are RGB images scaled to [-1, 1] (see ``preprocess_input``).

    Returns:
        The ``keras.Model``, its layers named by slim's scopes.

    Raises:
        InvalidArgument: an argument out of range or not fitting the others.
    """
    if pooling not in (None, "avg", "max"):
        raise InvalidArgument(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    if not 0.0 < dropout_keep_prob <= 1.0:
        raise InvalidArgument(f"dropout_keep_prob must be in (0, 1], got {dropout_keep_prob}")
    if activation not in ACTIVATIONS:
        raise InvalidArgument(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    if fold_batch_norm and not batch_norm:
        raise InvalidArgument("fold_batch_norm=True needs batch_norm=True: there is no batch norm to fold")
    if include_top and classes < 1:
        raise InvalidArgument(f"classes must be >= 1 with include_top=True, got {classes}")
    if input_shape is None:
        size = DEFAULT_IMAGE_SIZE if include_top else None
        input_shape = image_shape(size, size)
    if input_tensor is None:
        inputs = layers.Input(shape=input_shape, name="images")
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = layers.Input(tensor=input_tensor, shape=input_shape, name="images")

    dtype = dtype or keras.config.dtype_policy().name  # passed to every layer: no global state
    exact = at_least_float32(dtype)
    x = inception_v2_base(
        inputs,
        depth_multiplier,
        min_depth,
        use_separable_conv,
        fold_batch_norm,
        batch_norm=batch_norm,
        activation=activation,
        dtype=dtype,
    )
    if include_top:
        x = logits_head(x, classes, dropout_keep_prob, global_pool, spatial_squeeze, dtype)
        if classifier_activation is not None:
            x = layers.Activation(classifier_activation, dtype=exact, name="Predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(dtype=exact, name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(dtype=exact, name="max_pool")(x)

    model_inputs = keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
    return keras.Model(model_inputs, x, name=name)


def end_point_layer_name(end_point: str, model: keras.Model | None = None) -> str:
    """Name of the layer whose output is slim's end point ``end_point``."""
    if end_point.startswith("Conv2d_"):
        for scope in ACTIVATIONS.values():
            if model is not None and _has_layer(model, scoped(end_point, scope)):
                return scoped(end_point, scope)
        return scoped(end_point, ACTIVATIONS["relu"])
    if end_point == "Logits":
        if model is not None and not _has_layer(model, scoped("Logits", "SpatialSqueeze")):
            return scoped("Logits", "Conv2d_1c_1x1")
        return scoped("Logits", "SpatialSqueeze")
    if end_point in END_POINTS:
        return end_point
    raise InvalidArgument(f"unknown end point {end_point!r}; expected one of {', '.join(END_POINTS)}")


def _has_layer(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def end_point_model(model: keras.Model, end_points: Sequence[str] = END_POINTS) -> keras.Model:
    """A model sharing ``model``'s layers whose outputs are the named slim end points.

    Returns a ``keras.Model`` mapping images to ``{end_point: tensor}``: feature
    extraction and detection backbones take e.g. ``("Mixed_3c", "Mixed_4e", "Mixed_5c")``.
    """
    outputs = {}
    for end_point in end_points:
        layer_name = end_point_layer_name(end_point, model)
        if not _has_layer(model, layer_name):
            raise InvalidArgument(
                f"end point {end_point!r} is not in model {model.name!r} "
                "(built without the top or without classifier_activation?)"
            )
        outputs[end_point] = model.get_layer(layer_name).output
    return keras.Model(model.inputs, outputs, name=f"{model.name}_end_points")
