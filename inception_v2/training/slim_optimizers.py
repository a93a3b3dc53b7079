"""TF1's optimizers as slim's ``train_image_classifier.py`` builds them, on ``keras.ops``.

Keras' own optimizers compute other steps than TF1's in two of slim's choices:

- ``rmsprop`` (slim's default: decay 0.9, momentum 0.9, epsilon 1.0): TF1's mean square starts
  at **one** (its ``rms`` slot's initializer), Keras' at zero; with epsilon 1.0 the first hundreds
  of steps differ a lot. (Keras 3 puts epsilon inside the square root, as TF1 does.)
- ``momentum``: TF1 accumulates gradients (``accum = m * accum + g; var -= lr * accum``), Keras'
  SGD accumulates steps (``m = m * mom - lr * g; var += m``): the same while the learning rate
  is fixed, not once slim's schedule decays it.

Adam is TF1's in Keras (bias-corrected step size, epsilon outside the square root), so slim's
``adam`` is Keras' ``Adam`` with slim's flags. The optimizers here run on every Keras backend.
"""

from __future__ import annotations

import keras
from keras import ops

from inception_v2.errors import InvalidArgument


@keras.saving.register_keras_serializable(package="inception_v2")
class SlimRMSprop(keras.optimizers.RMSprop):
    """TF1's ``tf.train.RMSPropOptimizer``: Keras' RMSprop with the mean square starting at one.

    Args:
        learning_rate: a float or a schedule.
        rho: slim's ``--rmsprop_decay`` (0.9).
        momentum: slim's ``--rmsprop_momentum`` (0.9).
        epsilon: slim's ``--opt_epsilon`` (1.0), inside the square root.
        **kwargs: as for ``keras.optimizers.Optimizer``.
    """

    def __init__(
        self, learning_rate=0.01, rho: float = 0.9, momentum: float = 0.9, epsilon: float = 1.0, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, rho=rho, momentum=momentum, epsilon=epsilon, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for velocity in self._velocities:  # TF1's rms slot: ones_initializer
            velocity.assign(ops.ones_like(velocity))


@keras.saving.register_keras_serializable(package="inception_v2")
class SlimMomentum(keras.optimizers.Optimizer):
    """TF1's ``tf.train.MomentumOptimizer`` (not Nesterov): ``accum = momentum * accum + g``,
    ``var -= learning_rate * accum``; the accumulator holds gradients, not steps.

    Args:
        learning_rate: a float or a schedule.
        momentum: slim's ``--momentum`` (0.9).
        **kwargs: as for ``keras.optimizers.Optimizer``.
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.9, name: str = "slim_momentum", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if momentum < 0:
            raise InvalidArgument(f"momentum must be >= 0, got {momentum}")
        self.momentum = momentum

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators = self.add_optimizer_variables(var_list, "accumulator")

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        accumulator = self._accumulators[self._get_variable_index(variable)]
        self.assign(accumulator, ops.add(ops.multiply(accumulator, self.momentum), gradient))
        self.assign_sub(variable, ops.multiply(learning_rate, accumulator))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


#: slim's ``--optimizer`` names built here, with slim's flag defaults.
SLIM_OPTIMIZERS = ("rmsprop", "momentum", "adam", "sgd")


def slim_optimizer(
    name: str,
    learning_rate=0.01,
    *,
    rmsprop_decay: float = 0.9,
    rmsprop_momentum: float = 0.9,
    momentum: float = 0.9,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.999,
    opt_epsilon: float = 1.0,
) -> keras.optimizers.Optimizer:
    """The optimizer slim's ``_configure_optimizer`` builds for ``--optimizer NAME``, its flags
    named and defaulted as slim's.

    Raises:
        InvalidArgument: a name slim does not have here, or a negative decay or momentum.
    """
    for flag, value in (("rmsprop_decay", rmsprop_decay), ("rmsprop_momentum", rmsprop_momentum),
                        ("momentum", momentum), ("opt_epsilon", opt_epsilon)):  # fmt: skip
        if value < 0:
            raise InvalidArgument(f"--{flag.replace('_', '-')} must be >= 0, got {value}")
    if name == "rmsprop":
        return SlimRMSprop(learning_rate, rho=rmsprop_decay, momentum=rmsprop_momentum, epsilon=opt_epsilon)
    if name == "momentum":
        return SlimMomentum(learning_rate, momentum=momentum)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=adam_beta1, beta_2=adam_beta2, epsilon=opt_epsilon)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    raise InvalidArgument(f"--optimizer must be one of {', '.join(SLIM_OPTIMIZERS)}, got {name!r}")
