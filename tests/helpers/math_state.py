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


def check_float32_during_the_call() -> None:
    """On the current backend: an inference function computes in the precision asked (true
    float32 unless ``"tf32"``) while it runs, recorded by a layer inside the model, and the
    user's own setting (each framework's default: TF32 allowed) is back after each call."""
    import keras
    import numpy as np

    from inception_v2.inference.function import inference_function

    seen = []
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Lambda(lambda t: (seen.append(float32_math_state()), t)[1])(x)
    model = keras.Model(inputs, x)
    images = np.ones((2, 8, 8, 3), np.float32)
    user = float32_math_state()
    assert user == "tf32", user
    for precision, expected in ((None, "float32"), ("float32", "float32"), ("tf32", "tf32")):
        seen.clear()
        run = inference_function(model, precision=precision)
        run(images)
        run(images)
        assert seen and set(seen) == {expected}, (precision, seen)
        assert float32_math_state() == user, (precision, float32_math_state())
