"""A model's forward pass compiled for repeated inference, with its weights frozen in.

``model.predict_on_batch`` reads every weight from a variable on each call. On the
TensorFlow backend that costs a oneDNN reorder of each convolution kernel into its
blocked layout on every call (docs/performance.md has what that costs). With the weights
as graph constants oneDNN reorders them once and keeps them. The model itself stays pure
Keras; only this runner is per backend.

The weights are read when the function is made: make a new one after changing them.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from inception_v2.errors import InvalidArgument
from inception_v2.inference.hardware import ENGINES
from inception_v2.inference.runner import Runner
from inception_v2.model.network import model_data_format
from inception_v2.precision import float32_math, resolve_precision


def inference_function(
    model: keras.Model,
    torch_compile: bool = False,
    precision: str | None = None,
    engine: str = "keras",
    calibration: np.ndarray | None = None,
) -> Runner:
    """``model(x, training=False)`` as a compiled function of ``x`` returning NumPy arrays.

    ``engine``: ``"keras"`` (the model on its Keras backend, below) or ``"openvino"``: the same
    model converted once for OpenVINO's CPU runtime (see ``openvino``; TensorFlow
    backend, ``pip install "inception_v2[openvino]"``).

    ``precision`` (see ``inception_v2.precision``): ``None`` is the model's own, true
    float32 for a float32 model (TF32 off on GPUs for the duration of each call) and
    ``"bfloat16"`` for a fast-path model; ``"tf32"`` allows TF32 on GPUs; ``"int8"`` (OpenVINO
    only) quantizes with NNCF on ``calibration``, preprocessed images
    (``calibration.calibration_images``).

    TensorFlow: a ``tf.function`` with the weights as constants and the batch and image
    sizes left free (one trace). JAX: ``jax.jit`` of ``stateless_call`` (one compile per
    input shape). PyTorch: kernels stored in torch's layout and the forward pass traced
    once per input shape (see ``_torch_function``); with ``torch_compile``,
    ``torch.compile``d instead (minutes of compiling per input shape, then faster calls:
    docs/performance.md).
    Outputs have the structure of ``model.outputs``.
    """
    if engine not in ENGINES:
        raise InvalidArgument(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    if engine == "openvino":
        from inception_v2.inference.openvino import openvino_function

        # float32 Keras: what OpenVINO converts, and what its first result must equal.
        reference = _keras_runner(model, None, torch_compile)
        return openvino_function(model, reference, precision, calibration)
    return _keras_runner(model, precision, torch_compile)


def _keras_runner(model: keras.Model, precision: str | None, torch_compile: bool) -> Runner:
    precision = resolve_precision(model, precision)
    backend = keras.backend.backend()
    graph_function = None
    if backend == "tensorflow":
        run, graph_function = _tensorflow_function(model, *_weight_values(model))
    elif backend == "jax":
        run = _jax_function(model, *_weight_values(model))
    elif backend == "torch":
        run = _torch_function(model, torch_compile)
    else:
        run = lambda x: model(x, training=False)  # noqa: E731

    def call(x):
        with float32_math(precision):  # traced and run under it (JAX keys its cache on it)
            return keras.tree.map_structure(keras.ops.convert_to_numpy, run(x))

    return Runner(call, precision, "keras", graph_function)


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

    return call, run  # the tf.function is what other engines convert (see openvino_engine)


def _jax_function(model: keras.Model, trainable: list, non_trainable: list):
    import jax

    weights = [jax.numpy.asarray(w) for w in trainable]
    state = [jax.numpy.asarray(w) for w in non_trainable]
    step = jax.jit(lambda w, s, x: model.stateless_call(w, s, x, training=False)[0])
    return lambda x: step(weights, state, x)


def _torch_function(model: keras.Model, torch_compile: bool):
    """Weights copied once into the layout Keras' torch convolution asks for, then the
    forward pass traced once per input shape (``torch.jit.trace``).

    Keras keeps kernels as (H, W, in, out) and, on every call, permutes each one for
    ``torch.conv2d`` and copies it into a contiguous layout (channels_last memory for a
    channels_last model); stored pre-permuted, the permuted view is already contiguous and
    no copy happens. Tracing then runs the ~800 layer calls without Python (what each step
    saves: docs/performance.md).
    """
    import torch

    physical = (3, 0, 1, 2) if model_data_format(model) == "channels_last" else (3, 2, 0, 1)
    logical = tuple(physical.index(axis) for axis in range(4))  # back to (H, W, in, out)

    def frozen(variable):  # a copy: later changes to the model do not reach the function
        value = variable.value.detach()
        if value.ndim == 4:  # a convolution kernel
            return value.permute(physical).contiguous().permute(logical)
        return value.clone()

    trainable = [frozen(v) for v in model.trainable_variables]
    state = [frozen(v) for v in model.non_trainable_variables]
    forward = lambda x: model.stateless_call(trainable, state, x, training=False)[0]  # noqa: E731
    if torch_compile:
        compiled = torch.compile(forward, dynamic=False)

        def run_compiled(x):
            with torch.inference_mode():
                return compiled(keras.ops.convert_to_tensor(x))

        return run_compiled
    traced = {}

    def run(x):
        x = keras.ops.convert_to_tensor(x)
        key = (tuple(x.shape), x.dtype, x.device)
        with torch.no_grad():
            if key not in traced:
                # The trace is per input shape, so the shape-specialisation it warns of is meant.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", torch.jit.TracerWarning)
                    traced[key] = torch.jit.trace(forward, (x,), check_trace=False, strict=False)
            return traced[key](x)

    return run


def predict(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 32,
    precision: str | None = None,
    engine: str = "keras",
) -> np.ndarray:
    """Outputs of a one-output ``model`` on ``images``, ``batch_size`` at a time (see
    ``inference_function`` for ``precision`` and ``engine``)."""
    if len(images) == 0:
        raise InvalidArgument("predict: no images")
    run = inference_function(model, precision=precision, engine=engine)
    if model_data_format(model) == "channels_first":
        images = np.transpose(images, (0, 3, 1, 2))  # the pipeline's NHWC to the model's NCHW
    return np.concatenate(
        [np.asarray(run(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )
