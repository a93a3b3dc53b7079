"""Compiling a classifier for training, with its whole state created before the first step.

On TensorFlow without a distribution strategy, Keras creates what a training step needs and
does not have yet inside the first traced step: the optimizer's variables, and the variables of
a metric named by a string such as ``"accuracy"``. A traced function that creates variables is
traced a second time before it runs, so the first ``fit`` pays for tracing the whole forward and
backward pass twice (docs/performance.md). Created here instead, the step is traced once.
"""

from __future__ import annotations

import keras


def compile_classifier(model: keras.Model, optimizer: keras.optimizers.Optimizer, **compile_args) -> None:
    """Compile ``model`` (logits, integer labels) to train with cross-entropy and report accuracy.

    Call it in the distribution strategy's scope where there is one, so that the variables
    created here are the strategy's.

    Args:
        model: a classifier whose outputs are logits.
        optimizer: the optimizer to train with; built here on ``model``'s trainable variables.
        **compile_args: further arguments of ``keras.Model.compile`` (``jit_compile``,
            ``run_eagerly``).
    """
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # A metric object, not the string "accuracy": its variables exist from here on.
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        **compile_args,
    )
    optimizer.build(model.trainable_variables)
