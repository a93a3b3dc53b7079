"""slim's training recipe pieces (``train_image_classifier.py``), on ``keras.ops``: TF1's
optimizers, slim's weight decay, learning-rate schedules and label-smoothed loss.

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


@keras.saving.register_keras_serializable(package="inception_v2")
class SlimL2(keras.regularizers.Regularizer):
    """``slim.l2_regularizer(weight_decay)``: ``weight_decay * sum(w ** 2) / 2`` (TF's
    ``l2_loss`` halves; Keras' ``L2(weight_decay)`` does not, so it is twice slim's decay)."""

    def __init__(self, weight_decay: float = 4e-5):
        if weight_decay < 0:
            raise InvalidArgument(f"--weight-decay must be >= 0, got {weight_decay}")
        self.weight_decay = weight_decay

    def __call__(self, x):
        return self.weight_decay * ops.sum(ops.square(x)) / 2

    def get_config(self):
        return {"weight_decay": self.weight_decay}


#: slim's ``--learning_rate_decay_type`` names.
DECAY_TYPES = ("exponential", "fixed", "polynomial")


@keras.saving.register_keras_serializable(package="inception_v2")
class SlimLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """slim's ``_configure_learning_rate``: the rate at a global step.

    ``exponential``: ``learning_rate * decay_factor ** floor(step / decay_steps)`` (staircase);
    ``fixed``: ``learning_rate``; ``polynomial``: linear from ``learning_rate`` to
    ``end_learning_rate`` over ``decay_steps``, then held (power 1, no cycle). ``decay_steps`` is
    slim's ``int(num_samples_per_epoch * num_epochs_per_decay / batch_size)``.

    Raises:
        InvalidArgument: an unknown decay type, a negative rate or factor, no decay steps.
    """

    def __init__(
        self,
        learning_rate: float = 0.01,
        decay_steps: int = 1,
        decay_type: str = "exponential",
        decay_factor: float = 0.94,
        end_learning_rate: float = 0.0001,
    ):
        if decay_type not in DECAY_TYPES:
            raise InvalidArgument(
                f"--learning-rate-decay-type must be one of {', '.join(DECAY_TYPES)}, got {decay_type!r}"
            )
        if min(learning_rate, decay_factor, end_learning_rate) < 0:
            raise InvalidArgument("the learning rate, its decay factor and end rate must be >= 0")
        if decay_steps < 1:
            raise InvalidArgument(f"decay steps must be >= 1, got {decay_steps} (more epochs per decay?)")
        self.learning_rate, self.decay_steps, self.decay_type = learning_rate, decay_steps, decay_type
        self.decay_factor, self.end_learning_rate = decay_factor, end_learning_rate

    @classmethod
    def for_data(
        cls, num_samples_per_epoch: int, batch_size: int, num_epochs_per_decay: float = 2.0, **kwargs
    ):
        """With slim's decay steps: ``int(num_samples_per_epoch * num_epochs_per_decay / batch_size)``."""
        return cls(decay_steps=int(num_samples_per_epoch * num_epochs_per_decay / batch_size), **kwargs)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if self.decay_type == "fixed":
            return ops.convert_to_tensor(self.learning_rate, "float32")
        if self.decay_type == "exponential":
            return self.learning_rate * ops.power(self.decay_factor, ops.floor(step / self.decay_steps))
        done = ops.minimum(step, self.decay_steps) / self.decay_steps
        return (self.learning_rate - self.end_learning_rate) * (1 - done) + self.end_learning_rate

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "decay_steps": self.decay_steps,
            "decay_type": self.decay_type,
            "decay_factor": self.decay_factor,
            "end_learning_rate": self.end_learning_rate,
        }


def slim_loss(label_smoothing: float = 0.0) -> keras.losses.Loss:
    """slim's ``tf.losses.softmax_cross_entropy(onehot_labels, logits, label_smoothing)``, the
    mean over the batch: one-hot labels smoothed to ``onehot * (1 - s) + s / num_classes``.

    Raises:
        InvalidArgument: ``label_smoothing`` outside [0, 1].
    """
    if not 0 <= label_smoothing <= 1:
        raise InvalidArgument(f"--label-smoothing must be in [0, 1], got {label_smoothing}")
    return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
