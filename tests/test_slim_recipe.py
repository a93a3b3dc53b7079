"""slim's training recipe in Keras, piece by piece against TF1's and tf_slim's own: the
optimizers step by step, weight decay, learning-rate schedules, loss."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from inception_v2.errors import InvalidArgument
from inception_v2.training.slim_recipe import SlimMomentum, SlimRMSprop, slim_optimizer

STEPS = 12
RNG = np.random.default_rng(0)
START = RNG.normal(0, 1, (3, 4)).astype("float32")
SCALE = RNG.uniform(0.5, 3.0, (3, 4)).astype("float32")  # gradients of different sizes per entry
TARGETS = RNG.normal(0, 1, (STEPS, 3, 4)).astype("float32")  # the gradient changes every step
# slim's schedule decays the learning rate (staircase): it changes twice here.
LEARNING_RATES = [0.1] * 4 + [0.094] * 4 + [0.08836] * 4


def _gradient(value: np.ndarray, target: np.ndarray) -> np.ndarray:
    """d/dw of sum(SCALE * (w - target)^2)."""
    return 2.0 * SCALE * (value - target)


def tf1_steps(make_optimizer) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The variable after each of TF1's train steps on the same loss, and the final slots."""
    graph = tf.Graph()
    with graph.as_default():
        variable = tf.compat.v1.get_variable("w", initializer=START)
        target = tf.compat.v1.placeholder(tf.float32, START.shape)
        learning_rate = tf.compat.v1.placeholder(tf.float32, [])
        loss = tf.reduce_sum(SCALE * tf.square(variable - target))
        optimizer = make_optimizer(learning_rate)
        train = optimizer.minimize(loss, var_list=[variable])
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            values = []
            for step in range(STEPS):
                session.run(train, {target: TARGETS[step], learning_rate: LEARNING_RATES[step]})
                values.append(session.run(variable))
            slots = {
                name: session.run(optimizer.get_slot(variable, name)) for name in optimizer.get_slot_names()
            }
    return values, slots


def keras_steps(optimizer: keras.optimizers.Optimizer) -> list[np.ndarray]:
    variable = keras.Variable(START)
    optimizer.build([variable])
    values = []
    for step in range(STEPS):
        optimizer.learning_rate = LEARNING_RATES[step]
        gradient = _gradient(keras.ops.convert_to_numpy(variable), TARGETS[step])
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
        values.append(keras.ops.convert_to_numpy(variable))
    return values


def _assert_same_steps(ours: list[np.ndarray], theirs: list[np.ndarray], rtol: float = 1e-5) -> None:
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6, err_msg=f"step {step + 1}")


def test_rmsprop_is_tf1s_step_for_step():
    """slim's default: decay 0.9, momentum 0.9, epsilon 1.0."""
    theirs, slots = tf1_steps(
        lambda lr: tf.compat.v1.train.RMSPropOptimizer(lr, decay=0.9, momentum=0.9, epsilon=1.0)
    )
    optimizer = slim_optimizer("rmsprop", 0.1)
    assert isinstance(optimizer, SlimRMSprop)
    _assert_same_steps(keras_steps(optimizer), theirs)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(optimizer._velocities[0]), slots["rms"], rtol=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(optimizer._momentums[0]), slots["momentum"], rtol=1e-5
    )
    # The negative control: Keras' own RMSprop, same settings, starts its mean square at zero.
    keras_own = keras_steps(keras.optimizers.RMSprop(0.1, rho=0.9, momentum=0.9, epsilon=1.0))
    assert np.abs(keras_own[0] - theirs[0]).max() > 1e-2 * np.abs(theirs[0] - START).max()


def test_momentum_is_tf1s_step_for_step_as_the_rate_decays():
    theirs, slots = tf1_steps(lambda lr: tf.compat.v1.train.MomentumOptimizer(lr, momentum=0.9))
    optimizer = slim_optimizer("momentum", 0.1)
    assert isinstance(optimizer, SlimMomentum)
    _assert_same_steps(keras_steps(optimizer), theirs)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(optimizer._accumulators[0]), slots["momentum"], rtol=1e-5
    )
    # Keras' SGD accumulates steps, not gradients: equal until the rate changes, then not.
    keras_own = keras_steps(keras.optimizers.SGD(0.1, momentum=0.9))
    _assert_same_steps(keras_own[:4], theirs[:4])
    assert np.abs(keras_own[-1] - theirs[-1]).max() > 1e-4


def test_adam_is_keras_own_with_slims_epsilon():
    theirs, _ = tf1_steps(
        lambda lr: tf.compat.v1.train.AdamOptimizer(lr, beta1=0.9, beta2=0.999, epsilon=1.0)
    )
    _assert_same_steps(keras_steps(slim_optimizer("adam", 0.1)), theirs)


def test_slim_optimizer_refuses_what_slim_does_not_build():
    with pytest.raises(InvalidArgument, match="--optimizer must be one of rmsprop, momentum, adam, sgd"):
        slim_optimizer("lamb")
    with pytest.raises(InvalidArgument, match="--rmsprop-decay must be >= 0, got -0.9"):
        slim_optimizer("rmsprop", rmsprop_decay=-0.9)


def test_weight_decay_is_slims_half_sum_of_squares():
    import tf_slim

    from inception_v2.training.slim_recipe import SlimL2

    weights = RNG.normal(0, 1, (3, 3, 8, 16)).astype("float32")
    theirs = float(tf_slim.l2_regularizer(4e-5)(tf.constant(weights)))
    ours = float(keras.ops.convert_to_numpy(SlimL2(4e-5)(keras.ops.convert_to_tensor(weights))))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    keras_own = float(keras.ops.convert_to_numpy(keras.regularizers.L2(4e-5)(weights)))
    np.testing.assert_allclose(keras_own, 2 * theirs, rtol=1e-6)  # Keras' L2 is twice slim's decay
    with pytest.raises(InvalidArgument, match="--weight-decay must be >= 0"):
        SlimL2(-1.0)


@pytest.mark.parametrize("decay_type", ["exponential", "fixed", "polynomial"])
def test_learning_rate_is_slims_at_every_step(decay_type):
    from inception_v2.training.slim_recipe import SlimLearningRate

    # slim's decay steps: int(num_samples_per_epoch * num_epochs_per_decay / batch_size) = int(24 * 2 / 5)
    schedule = SlimLearningRate.for_data(24, 5, 2.0, learning_rate=0.01, decay_type=decay_type)
    assert schedule.decay_steps == 9
    steps = range(0, 40)
    ours = [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]
    graph = tf.Graph()
    with graph.as_default():
        step = tf.compat.v1.placeholder(tf.int64, [])
        if decay_type == "exponential":
            rate = tf.compat.v1.train.exponential_decay(0.01, step, 9, 0.94, staircase=True)
        elif decay_type == "polynomial":
            rate = tf.compat.v1.train.polynomial_decay(0.01, step, 9, 0.0001, power=1.0, cycle=False)
        else:
            rate = tf.constant(0.01)
        with tf.compat.v1.Session(graph=graph) as session:
            theirs = [session.run(rate, {step: s}) for s in steps]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    if decay_type == "exponential":
        assert ours[8] == pytest.approx(0.01) and ours[9] == pytest.approx(0.0094)  # staircase


def test_schedule_and_loss_refuse_bad_values():
    from inception_v2.training.slim_recipe import SlimLearningRate, slim_loss

    with pytest.raises(InvalidArgument, match="--learning-rate-decay-type must be one of exponential"):
        SlimLearningRate(decay_type="cosine")
    with pytest.raises(InvalidArgument, match="decay steps must be >= 1"):
        SlimLearningRate.for_data(4, 32, 2.0)
    with pytest.raises(InvalidArgument, match="--label-smoothing must be in"):
        slim_loss(1.5)


def test_loss_is_slims_label_smoothed_cross_entropy():
    from inception_v2.training.slim_recipe import slim_loss

    logits = RNG.normal(0, 2, (6, 5)).astype("float32")
    onehot = np.eye(5, dtype="float32")[[0, 3, 1, 4, 4, 2]]
    theirs = float(tf.compat.v1.losses.softmax_cross_entropy(onehot, logits, label_smoothing=0.1))
    ours = float(keras.ops.convert_to_numpy(slim_loss(0.1)(onehot, logits)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert abs(float(keras.ops.convert_to_numpy(slim_loss(0.0)(onehot, logits))) - theirs) > 1e-3
