"""Which arithmetic a forward pass uses: slim's true float32, TF32, or the bfloat16 fast path.

On Ampere and newer GPUs every framework's default runs float32 convolutions and matmuls in
TF32 (10-bit mantissa): TensorFlow >= 2.4, JAX's default precision, cuDNN under PyTorch.
slim's published accuracy was measured in true float32, and on a GPU the TF32 default
changes about one top-1 prediction in thirty. So this package computes in true float32
unless asked otherwise, and sets each framework only for the duration of its own call,
restoring what was there (a user's training elsewhere in the process keeps its settings).

- ``"float32"`` (default): IEEE float32 math everywhere. What reproduces slim.
- ``"tf32"``: TF32 allowed for float32 convolutions and matmuls (GPU speed, ~1e-2 logit error).
- ``"bfloat16"``: the fast path, a model built with ``FAST_INFERENCE`` (batch norm folded,
  bfloat16 weights and activations; the stem and logits stay float32 and run as ``"float32"``).
- ``"int8"``: 8-bit integers on OpenVINO's engine only: the float32 model converted, then
  quantized by NNCF's post-training quantization on calibration images (``calibration``).

On a CPU, float32 is float32 whatever is chosen: TF32 exists only on GPUs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from inception_v2.errors import InvalidArgument

if TYPE_CHECKING:  # keras (and so TensorFlow) is imported only when a model runs
    import keras

PRECISIONS = ("float32", "tf32", "bfloat16", "int8")
DEFAULT_PRECISION = "float32"
#: Precisions only an engine other than Keras computes in, and that engine.
ENGINE_ONLY = {"int8": "openvino"}
#: The fast inference path: batch norm folded into the convs, bfloat16 weights and
#: activations (AMX / AVX512-BF16 CPUs, GPUs); logits stay float32.
FAST_INFERENCE = {"fold_batch_norm": True, "dtype": "bfloat16"}


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``, else a ``ValueError`` listing them."""
    if precision not in PRECISIONS:
        raise InvalidArgument(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return precision


def check_engine(precision: str, engine: str) -> str:
    """``precision`` if ``engine`` computes in it.

    Raises:
        InvalidArgument: an unknown precision, or int8 on the Keras engine.
    """
    check_precision(precision)
    needed = ENGINE_ONLY.get(precision)
    if needed and engine != needed:
        raise InvalidArgument(
            f"precision {precision} runs on the {needed} engine (--engine {needed}), not on {engine}: "
            "Keras computes float32, tf32 or bfloat16"
        )
    return precision


def model_options(precision: str, engine: str = "keras") -> dict:
    """``InceptionV2`` arguments that ``precision`` needs on ``engine``: the fast path for
    ``"bfloat16"`` on Keras; none for OpenVINO, which converts a float32 model and applies
    its own precision."""
    precision = check_precision(precision)
    return dict(FAST_INFERENCE) if precision == "bfloat16" and engine == "keras" else {}


def mixed_policy() -> str:
    """Keras' mixed-precision policy for fine-tuning here (on TensorFlow, whose tf.data and
    tf.distribute it runs on): float16 on a GPU (its tensor cores), bfloat16 elsewhere (the
    CPUs' bfloat16 units; float16 has no fast path on CPUs)."""
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def model_precision(model: keras.Model) -> str:
    """``"bfloat16"`` for a model whose layers compute in bfloat16, else ``"float32"``."""
    low = any(getattr(layer, "compute_dtype", None) == "bfloat16" for layer in model.layers)
    return "bfloat16" if low else "float32"


def resolve_precision(model: keras.Model, precision: str | None) -> str:
    """The precision a run of ``model`` computes in; ``None`` means the model's own.

    A bfloat16 model cannot run as float32 or TF32, nor a float32 model as bfloat16:
    the weights' dtype is fixed when the model is built (``model_options``).
    """
    own = model_precision(model)
    if precision is None:
        return own
    check_engine(precision, "keras")
    if (precision == "bfloat16") != (own == "bfloat16"):
        raise InvalidArgument(
            f"precision {precision!r} does not fit model {model.name!r}, which computes in {own}: "
            "build the model with inception_v2.precision.model_options(precision)"
        )
    return precision


@contextlib.contextmanager
def float32_math(precision: str = DEFAULT_PRECISION) -> Iterator[None]:
    """Within the block, float32 math on the current Keras backend is as ``precision`` says.

    TF32 is allowed only for ``"tf32"``; ``"float32"`` and ``"bfloat16"`` (whose float32
    layers must stay float32) get IEEE float32. Every setting is restored on exit.
    """
    import keras

    allow_tf32 = check_precision(precision) == "tf32"
    backend = keras.backend.backend()
    if backend == "tensorflow":
        context = _tensorflow_math(allow_tf32)
    elif backend == "jax":
        import jax

        context = jax.default_matmul_precision("tensorfloat32" if allow_tf32 else "highest")
    elif backend == "torch":
        context = _torch_math(allow_tf32)
    else:
        context = contextlib.nullcontext()
    with context:
        yield


@contextlib.contextmanager
def _tensorflow_math(allow_tf32: bool) -> Iterator[None]:
    import tensorflow as tf

    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(allow_tf32)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(previous)


def _torch_flags() -> list[tuple[object, str, object]]:
    """``(owner, attribute, value)`` of each PyTorch switch that lets float32 run as TF32."""
    import torch

    cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(cuda, "fp32_precision") and hasattr(getattr(cudnn, "conv", None), "fp32_precision"):
        owners = [(cuda, "fp32_precision"), (cudnn.conv, "fp32_precision")]  # PyTorch >= 2.9
    else:
        owners = [(cuda, "allow_tf32"), (cudnn, "allow_tf32")]
    return [(owner, name, getattr(owner, name)) for owner, name in owners]


@contextlib.contextmanager
def _torch_math(allow_tf32: bool) -> Iterator[None]:
    import torch

    flags = _torch_flags()
    matmul = torch.get_float32_matmul_precision()
    for owner, name, _ in flags:
        if name == "allow_tf32":
            setattr(owner, name, allow_tf32)
        else:  # "none" means "inherit", which may be TF32: say which
            setattr(owner, name, "tf32" if allow_tf32 else "ieee")
    torch.set_float32_matmul_precision("high" if allow_tf32 else "highest")
    try:
        yield
    finally:
        for owner, name, value in flags:
            setattr(owner, name, value)
        torch.set_float32_matmul_precision(matmul)
