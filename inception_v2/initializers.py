"""The convolutions' kernel initializer: Keras' ``he_normal``, drawn on the host on JAX.

On JAX, each of Keras' random draws is an XLA program compiled for its shape, and this
network has dozens of distinct kernel shapes: compiling them dominates building the model,
and the draws are thrown away whenever weights are loaded. ``HostHeNormal`` draws the same
distribution (a normal truncated at two standard deviations, scaled by ``sqrt(2 / fan_in)``)
with NumPy instead. The TensorFlow and PyTorch backends keep Keras' own initializer, so
their random networks (the BN study's, for one) are what they were.
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np

#: The standard deviation of a unit normal truncated to [-2, 2] (Keras' and TF's constant).
TRUNCATED_STDDEV = 0.87962566103423978


class HostHeNormal(keras.initializers.Initializer):
    """He-normal kernels drawn with NumPy: no compilation per shape on any backend.

    Args:
        seed: an int; by default one drawn from Python's ``random`` as Keras draws its
            initializers' default seeds, so ``keras.utils.set_random_seed`` makes the draws
            reproducible.
    """

    def __init__(self, seed: int | None = None):
        self.seed = seed if seed is not None else random.randint(1, int(1e9))

    def __call__(self, shape, dtype=None):
        fan_in = math.prod(shape[:-1]) if len(shape) > 1 else shape[0]
        rng = np.random.default_rng(self.seed)
        values = rng.standard_normal(shape)
        outside = np.abs(values) > 2.0
        while outside.any():  # resample what falls outside two standard deviations
            values[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(values) > 2.0
        values *= math.sqrt(2.0 / fan_in) / TRUNCATED_STDDEV
        return keras.ops.convert_to_tensor(values.astype(np.float32), dtype=dtype)

    def get_config(self) -> dict:
        return {"seed": self.seed}


def kernel_initializer() -> keras.initializers.Initializer | str:
    """What ``network.conv2d_bn`` gives its convolution: ``HostHeNormal`` on JAX, else
    Keras' ``"he_normal"``."""
    return HostHeNormal() if keras.backend.backend() == "jax" else "he_normal"


def name_keras_initializer(layer: keras.layers.Layer) -> None:
    """Once ``layer`` is built, make its config name Keras' ``HeNormal`` (same seed) in place
    of ``HostHeNormal``, so that a model saved on JAX loads where this package is not."""
    if isinstance(layer.kernel_initializer, HostHeNormal):
        layer.kernel_initializer = keras.initializers.HeNormal(seed=layer.kernel_initializer.seed)
