"""A model's forward pass compiled for repeated inference, with its weights frozen in.

``model.predict_on_batch`` reads every weight from a variable on each call. On the
TensorFlow backend that costs a oneDNN reorder of each convolution kernel into its
blocked layout on every call (measured: ~9 % of a float32 batch-32 step, ~40 % of a
bfloat16 batch-1 step). With the weights as graph constants oneDNN reorders them once
and keeps them. The model itself stays pure Keras; only this runner is per backend.

The weights are read when the function is made: make a new one after changing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np


def inference_function(model: keras.Model, torch_compile: bool = False) -> Callable[[Any], Any]:
    """``model(x, training=False)`` as a compiled function of ``x`` returning NumPy arrays.

    TensorFlow: a ``tf.function`` with the weights as constants and the batch and image
    sizes left free (one trace). JAX: ``jax.jit`` of ``stateless_call`` (one compile per
    input shape). PyTorch: the model under ``torch.inference_mode``; with
    ``torch_compile``, also ``torch.compile``d (measured on 2 CPU cores: ~2 minutes to
    compile per input shape, then 2.4x the uncompiled float32 speed at batch 32).
    Outputs have the structure of ``model.outputs``.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        run = _tensorflow_function(model, *_weight_values(model))
    elif backend == "jax":
        run = _jax_function(model, *_weight_values(model))
    elif backend == "torch":
        run = _torch_function(model, torch_compile)
    else:
        run = lambda x: model(x, training=False)  # noqa: E731
    return lambda x: keras.tree.map_structure(keras.ops.convert_to_numpy, run(x))


def _weight_values(model: keras.Model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The model's trainable and non-trainable weights as NumPy, in ``stateless_call`` order."""
    values = lambda variables: [keras.ops.convert_to_numpy(v.value) for v in variables]  # noqa: E731
    return values(model.trainable_variables), values(model.non_trainable_variables)


def _tensorflow_function(model: keras.Model, trainable: list, non_trainable: list):
    import tensorflow as tf

    specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in model.inputs]

    @tf.function(input_signature=specs)
    def run(*inputs):
        # Built inside the trace, so they are Const nodes, not captured inputs.
        weights = [tf.constant(w) for w in trainable]
        state = [tf.constant(w) for w in non_trainable]
        x = inputs if len(inputs) > 1 else inputs[0]
        return model.stateless_call(weights, state, x, training=False)[0]

    def call(x):
        xs = x if isinstance(x, (list, tuple)) else [x]
        return run(*(tf.cast(t, s.dtype) for t, s in zip(xs, specs, strict=True)))

    return call


def _jax_function(model: keras.Model, trainable: list, non_trainable: list):
    import jax

    weights = [jax.numpy.asarray(w) for w in trainable]
    state = [jax.numpy.asarray(w) for w in non_trainable]
    step = jax.jit(lambda w, s, x: model.stateless_call(w, s, x, training=False)[0])
    return lambda x: step(weights, state, x)


def _torch_function(model: keras.Model, torch_compile: bool):
    import torch

    forward = lambda x: model(x, training=False)  # noqa: E731
    if torch_compile:
        forward = torch.compile(forward, dynamic=False)

    def run(x):
        with torch.inference_mode():
            return forward(keras.ops.convert_to_tensor(x))

    return run


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Outputs of a one-output ``model`` on ``images``, ``batch_size`` at a time."""
    if len(images) == 0:
        raise ValueError("predict: no images")
    run = inference_function(model)
    return np.concatenate(
        [np.asarray(run(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )
