"""Random weights whose predictions vary from image to image, on any Keras backend.

A network with random weights and batch norm at its initial statistics (mean 0, variance 1)
predicts nearly the same class for every image, so an agreement figure measured on it says
nothing. Here, as training would leave them, the batch-norm statistics are those of real
images, betas and biases are non-zero, and the logits are centred over the images, so the
top classes change from image to image. Pure Keras (no TensorFlow): it makes the weights
for measuring numerical fidelity on machines without slim, such as GPU machines.
"""

from __future__ import annotations

import keras
import numpy as np

from inception_v2.errors import InvalidArgument
from inception_v2.inference.function import inference_function
from inception_v2.model.network import end_point_model
from inception_v2.weights.checkpoint import model_variable_map

LOGITS_BIAS = "InceptionV2/Logits/Conv2d_1c_1x1/biases"


def make_live(model: keras.Model, images: np.ndarray, seed: int = 0, batch_size: int = 25) -> keras.Model:
    """Give ``model`` (unfolded, with its top) live weights, in place; returns it.

    ``images``: a few dozen real images in the model's layout, scaled to [-1, 1]. The
    batch-norm statistics come from their first ``batch_size`` (one forward pass in training
    mode with momentum 0, so each layer keeps the statistics of what it really sees); the
    logits are centred over all of them.
    """
    rng = np.random.default_rng(seed)
    for name, variable in model_variable_map(model).items():
        if name.endswith(("/beta", "/biases")) and name != LOGITS_BIAS:
            variable.assign(rng.normal(0.0, 0.2, variable.shape).astype(variable.dtype))
    batch_norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not batch_norms:
        raise InvalidArgument(f"model {model.name!r} has no batch norm to calibrate (folded?)")
    momenta = [layer.momentum for layer in batch_norms]
    try:
        for layer in batch_norms:
            layer.momentum = 0.0
        _, state = _compiled_training_step(model)(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            keras.ops.convert_to_tensor(images[:batch_size]),
        )
    finally:
        for layer, momentum in zip(batch_norms, momenta, strict=True):
            layer.momentum = momentum
    for variable, value in zip(model.non_trainable_variables, state, strict=True):
        variable.assign(value)
    logits = inference_function(end_point_model(model, ["Logits"]))
    bias = model_variable_map(model)[LOGITS_BIAS]
    outputs = [logits(images[i : i + batch_size])["Logits"] for i in range(0, len(images), batch_size)]
    mean = np.concatenate(outputs).reshape(-1, bias.shape[-1]).mean(axis=0)
    bias.assign(keras.ops.convert_to_numpy(bias.value) - mean.astype(bias.dtype))
    return model


def _compiled_training_step(model: keras.Model):
    """``stateless_call(..., training=True)``, compiled where the backend would otherwise run
    op by op (JAX compiles each eager op: minutes on a CPU)."""
    step = lambda trainable, state, x: model.stateless_call(trainable, state, x, training=True)  # noqa: E731
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(step)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(step)
    return step
