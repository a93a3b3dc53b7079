"""Train the head for 3 full-batch steps under a tf.distribute strategy; save the head.

Run as a script (TensorFlow's devices and TF_CONFIG must be set before it starts):
    distributed_step.py MODE CHECKPOINT IMAGES.npz OUT.npy
MODE: mirrored (two logical CPUs, model.fit) | worker (MultiWorkerMirroredStrategy from
TF_CONFIG, inception_v2.training.distributed.distributed_fit). The single-device run needs no process of
its own: the tests call ``train_head`` with the default strategy.
"""

import sys

import numpy as np
import tensorflow as tf


def train_head(strategy, checkpoint: str, data: str, multi_worker: bool = False) -> np.ndarray:
    """The head's kernel and bias, flattened, after 3 steps on the batch in ``data``."""
    import keras

    from inception_v2.training.classifier import build_classifier
    from inception_v2.training.compiling import compile_classifier

    arrays = np.load(data)
    images, labels = arrays["images"], arrays["labels"]
    with strategy.scope():
        model = build_classifier(2, weights=checkpoint, train="head", dropout_keep_prob=1.0)
        optimizer = keras.optimizers.SGD(1e-4, momentum=0.9)
        if not multi_worker:  # as fine-tuning compiles, in the strategy's scope
            compile_classifier(model, optimizer)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(images))
    if multi_worker:
        from inception_v2.training.distributed import distributed_fit

        distributed_fit(model, optimizer, dataset, strategy, epochs=3, global_batch_size=len(images))
    else:
        model.fit(dataset, epochs=3, verbose=0)
    kernel, bias = model.get_layer("Logits__Conv2d_1c_1x1").get_weights()
    return np.concatenate([kernel.ravel(), bias.ravel()])


def main(mode: str, checkpoint: str, data: str, out: str) -> None:
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    elif mode == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        raise SystemExit(f"distributed_step.py: unknown mode {mode!r}")
    head = train_head(strategy, checkpoint, data, multi_worker=mode == "worker")
    print("replicas", strategy.num_replicas_in_sync)
    np.save(out, head)


if __name__ == "__main__":
    main(*sys.argv[1:5])
