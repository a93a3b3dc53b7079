"""Multiply-adds of a built Keras model, counted from its layers' shapes.

What a speed figure in FLOP/s divides by: it follows the model actually run (its input size,
depth multiplier, head), where a constant would only fit the release's 224x224 network.
Convolutions and dense layers are counted; batch norm, pooling and activations are not (the
convention of the papers and of ``architecture.GFLOP_PER_IMAGE``).
"""

from __future__ import annotations

import math

import keras

from inception_v2.errors import InvalidArgument


def _spatial_outputs(layer) -> int:
    """Output positions (height x width) of a convolution layer, per image."""
    shape = layer.output.shape
    spatial = shape[2:] if getattr(layer, "data_format", "channels_last") == "channels_first" else shape[1:-1]
    if any(size is None for size in spatial):
        raise InvalidArgument(f"{layer.name}: output size unknown (built without a fixed input size)")
    return math.prod(spatial)


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one image through ``model``.

    Args:
        model: a functional Keras model built for a fixed input size.

    Returns:
        The count for one image (FLOPs are twice that).

    Raises:
        InvalidArgument: a convolution's output size is not fixed (``input_shape`` with ``None``).
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        elif isinstance(layer, keras.layers.SeparableConv2D):
            positions = _spatial_outputs(layer)
            depthwise, pointwise = layer.depthwise_kernel.shape, layer.pointwise_kernel.shape
            total += positions * (math.prod(depthwise) + math.prod(pointwise))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            total += _spatial_outputs(layer) * math.prod(layer.kernel.shape)
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return total
