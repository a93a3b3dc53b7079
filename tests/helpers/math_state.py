"""What float32 math each Keras backend does right now: what the precision tests read.

Not part of the library: it reads the same switches ``inception_v2.precision`` sets.
"""

from __future__ import annotations

from inception_v2.precision import _torch_flags


def float32_math_state() -> str:
    """What float32 math the current backend does now: ``"float32"`` or ``"tf32"`` (allowed)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return "tf32" if tf.config.experimental.tensor_float_32_execution_enabled() else "float32"
    if backend == "jax":
        import jax

        return "float32" if jax.config.jax_default_matmul_precision in ("highest", "float32") else "tf32"
    if backend == "torch":
        import torch

        # "none" inherits torch's global choice, which is float32 while matmuls are "highest".
        inherit = "none" if torch.get_float32_matmul_precision() == "highest" else False
        exact = all(value in ("ieee", False, inherit) for _, _, value in _torch_flags())
        return "float32" if exact else "tf32"
    return "float32"
