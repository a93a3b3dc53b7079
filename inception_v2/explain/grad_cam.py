"""Grad-CAM (Selvaraju et al. 2017): where in the image a class's logit comes from.

At an end point (``Mixed_5c`` by default, any of slim's), each channel is weighted by the mean
gradient of the class's logit over its positions; the weighted sum, through a ReLU, is the map
(one per image, at the end point's resolution, scaled to [0, 1] by its own maximum). The
network is split at the end point into two Keras models sharing its layers, and the gradient of
the second is taken on the backend running it (TensorFlow, JAX or PyTorch).
"""

from __future__ import annotations

import keras
import numpy as np

from inception_v2.errors import InvalidArgument
from inception_v2.inference.function import inference_function
from inception_v2.model.network import end_point_layer_name, model_data_format


def grad_cam(
    model: keras.Model, images: np.ndarray, class_index: int | np.ndarray, end_point: str = "Mixed_5c"
) -> np.ndarray:
    """Grad-CAM maps of ``class_index`` for each image.

    Args:
        model: an Inception V2 classifier (slim's layer names; softmax or logits out).
        images: a batch as the model takes it (preprocessed, [-1, 1]).
        class_index: the output index explained: one for all images, or one per image.
        end_point: the slim end point whose activations are weighted.

    Returns:
        ``(N, h, w)`` float32 maps in [0, 1] at the end point's resolution (all zero where no
        position raises the logit).

    Raises:
        InvalidArgument: an end point the model does not have.
    """
    name = end_point_layer_name(end_point, model)
    if not any(layer.name == name for layer in model.layers):
        raise InvalidArgument(f"end point {end_point!r} is not in model {model.name!r}")
    features = model.get_layer(name).output
    logits = model.get_layer(end_point_layer_name("Logits", model)).output
    body, head = keras.Model(model.inputs, features), keras.Model(features, logits)
    values = _forward(body, images)
    chosen = np.broadcast_to(np.asarray(class_index), (len(values),)).astype(np.int64)
    gradients = _gradient(head, values, chosen)
    channel_axis = 1 if model_data_format(model) == "channels_first" else -1
    if channel_axis == 1:
        values, gradients = np.moveaxis(values, 1, -1), np.moveaxis(gradients, 1, -1)
    weights = gradients.mean(axis=(1, 2), keepdims=True)  # per image and channel
    maps = np.maximum((weights * values).sum(-1), 0.0)
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)


def _forward(body: keras.Model, images: np.ndarray) -> np.ndarray:
    """``body``'s output on ``images``. On JAX through ``inference_function`` (one compiled
    program: run eagerly, JAX compiles each operation for its shape, which costs more than the
    network itself); elsewhere eagerly, cheaper than tracing for a single call."""
    if keras.backend.backend() == "jax":
        return inference_function(body)(images)
    return keras.ops.convert_to_numpy(body(images, training=False))


def _gradient(head: keras.Model, features: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """d(sum over images of logit[image, classes[image]]) / d features, on this backend."""
    backend = keras.backend.backend()
    rows = np.arange(len(classes))
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(features)
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(tf.gather_nd(head(x, training=False), np.stack([rows, classes], 1)))
        return tape.gradient(score, x).numpy()
    if backend == "jax":
        import jax

        trainable = [v.value for v in head.trainable_variables]
        frozen = [v.value for v in head.non_trainable_variables]

        def score(x, t, f):
            out, _ = head.stateless_call(t, f, x, training=False)
            return out[rows, classes].sum()

        return np.asarray(jax.jit(jax.grad(score))(features, trainable, frozen))
    import torch

    device = head.weights[0].value.device if head.weights else "cpu"  # where the model's weights are
    x = torch.tensor(features, requires_grad=True, device=device)
    out = head(x, training=False)
    score = out[torch.as_tensor(rows), torch.as_tensor(classes)].sum()
    (gradient,) = torch.autograd.grad(score, x)
    return gradient.detach().cpu().numpy()
