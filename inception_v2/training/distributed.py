"""Data-parallel training on ``tf.distribute`` (TensorFlow backend).

``MirroredStrategy`` (the devices of one host) works with ``model.fit`` and is what
``inception-v2 finetune --distribute mirrored`` uses. ``MultiWorkerMirroredStrategy``
(hosts described by ``TF_CONFIG``) does not work with Keras 3.15's ``fit`` (its symbolic
build reduces a PerReplica batch), so ``distributed_fit`` runs the same training step
under ``strategy.run``: per-example losses averaged over the *global* batch, gradients
all-reduced by the Keras optimizer, so N workers reach the single-device weights.
"""

from __future__ import annotations

import keras

from inception_v2.errors import InvalidArgument


def make_strategy(kind: str | None):
    """``None`` (default strategy), ``"mirrored"`` or ``"multi_worker"`` (reads ``TF_CONFIG``)."""
    import tensorflow as tf

    if kind is None:
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise InvalidArgument(f"distribute must be 'mirrored', 'multi_worker' or None, got {kind!r}")


def distributed_fit(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    dataset,
    strategy,
    epochs: int,
    global_batch_size: int,
) -> list[float]:
    """Train ``model`` (built in ``strategy.scope()``) on ``dataset`` of global batches.

    ``dataset`` yields ``(images, labels)`` batches of ``global_batch_size``; each worker
    gets its shard. Returns the mean training loss of each epoch. Regularisation losses
    (slim's weight decay) are added once per global batch.
    """
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    with strategy.scope():
        optimizer.build(model.trainable_variables)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.nn.compute_average_loss(loss_fn(labels, logits), global_batch_size=global_batch_size)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    @tf.function
    def step(images, labels):
        return strategy.reduce("SUM", strategy.run(replica_step, args=(images, labels)), axis=None)

    distributed = strategy.experimental_distribute_dataset(dataset)
    history = []
    for _ in range(epochs):
        losses = [float(step(images, labels)) for images, labels in distributed]
        history.append(sum(losses) / max(len(losses), 1))
    return history
