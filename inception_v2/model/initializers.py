"""The convolutions' kernel initializer: Keras' ``he_normal``, drawn on the host on JAX.

On JAX, each of Keras' random draws is an XLA program compiled for its shape, and this
network has dozens of distinct kernel shapes: compiling them dominates building the model,
and the draws are thrown away whenever weights are loaded. ``HostHeNormal`` draws the same
distribution (a normal truncated at two standard deviations, scaled by ``sqrt(2 / fan_in)``)
with NumPy instead. The TensorFlow and PyTorch backends keep Keras' own initializer, so
their random networks (the BN study's, for one) are what they were.

A network built to be loaded at once (``for_loading``) draws nothing: its kernels start as
zeros, which the load replaces (drawing them is much of what building the network costs:
docs/performance.md), and its layers' configs still name the initializer a fresh network would
have drawn from.
"""

from __future__ import annotations

import contextlib
import contextvars
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


class Unset(keras.initializers.Initializer):
    """Zeros in place of ``initializer``'s draws, for a variable that a load assigns next."""

    def __init__(self, initializer: keras.initializers.Initializer | str):
        self.initializer = initializer

    def __call__(self, shape, dtype=None):
        # From the host, as HostHeNormal: on JAX, keras.ops.zeros compiles a program per shape.
        return keras.ops.convert_to_tensor(np.zeros(shape, np.float32), dtype=dtype)


_LOADING = contextvars.ContextVar("inception_v2_loading", default=False)


@contextlib.contextmanager
def for_loading(loading: bool = True):
    """Within it, ``kernel_initializer`` draws nothing (``Unset``): for building a network whose
    every variable is assigned right after, as loading weights does (``model.InceptionV2``,
    ``model.build_from_weights``); a load that leaves a variable out must fail, not keep zeros.

    Args:
        loading: ``False`` draws as usual (a network built for no load, or a partial one).
    """
    token = _LOADING.set(loading)
    try:
        yield
    finally:
        _LOADING.reset(token)


def kernel_initializer() -> keras.initializers.Initializer | str:
    """What ``network.conv2d_bn`` gives its convolution: ``HostHeNormal`` on JAX, else
    Keras' ``"he_normal"``; ``Unset`` of it inside ``for_loading``."""
    initializer = HostHeNormal() if keras.backend.backend() == "jax" else "he_normal"
    return Unset(initializer) if _LOADING.get() else initializer


def name_keras_initializer(layer: keras.layers.Layer) -> None:
    """Once ``layer`` is built, make its config name the initializer a fresh network draws from:
    Keras' ``HeNormal`` (same seed) in place of ``HostHeNormal``, so that a model saved on JAX
    loads where this package is not, and the real one in place of ``Unset``."""
    initializer = layer.kernel_initializer
    if isinstance(initializer, Unset):
        initializer = keras.initializers.get(initializer.initializer)
    if isinstance(initializer, HostHeNormal):
        initializer = keras.initializers.HeNormal(seed=initializer.seed)
    layer.kernel_initializer = initializer
