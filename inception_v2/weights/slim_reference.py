"""tf_slim's own Inception V2 graph: the reference this port is checked against.

Used by ``convert --verify``, the tests and the benchmark. Needs ``tf_slim`` and, under
TF >= 2.16, ``tf_keras`` (``pip install "inception_v2[slim]"``).
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Mapping

import numpy as np

from inception_v2.errors import MissingExtra
from inception_v2.model.architecture import DEFAULT_IMAGE_SIZE, DEPTH_MULTIPLIER, MIN_DEPTH, NUM_CLASSES
from inception_v2.weights.checkpoint import EMA_SUFFIX


def import_slim():
    """Import ``tf_slim`` and its ``inception_v2`` net, working around TF 2.21 packaging.

    TF's legacy layers import ``tf_keras.legacy_tf_layers``, which tf_keras 2.21 ships
    as ``tf_keras.src.legacy_tf_layers``.
    """
    try:
        import tf_keras.src.legacy_tf_layers as legacy_layers

        sys.modules.setdefault("tf_keras.legacy_tf_layers", legacy_layers)
    except ImportError:
        pass
    try:
        import tf_slim
        from tf_slim.nets import inception_v2 as slim_inception_v2
    except ImportError as e:
        raise MissingExtra.named("slim", f"tf_slim's graph needs tf_slim and tf_keras ({e})") from None
    return tf_slim, slim_inception_v2


def _build(
    images,
    num_classes: int | None,
    is_training: bool,
    depth_multiplier: float,
    min_depth: int,
    spatial_squeeze: bool,
):
    """slim's network under ``inception_v2_arg_scope()``; returns its end points."""
    tf_slim, net = import_slim()
    with warnings.catch_warnings(), tf_slim.arg_scope(net.inception_v2_arg_scope()):
        warnings.filterwarnings("ignore", message=".*layer.apply.*")
        if num_classes:
            _, end_points = net.inception_v2(
                images,
                num_classes=num_classes,
                is_training=is_training,
                depth_multiplier=depth_multiplier,
                min_depth=min_depth,
                spatial_squeeze=spatial_squeeze,
            )
        else:
            with tf_slim.arg_scope([tf_slim.batch_norm], is_training=is_training):
                _, end_points = net.inception_v2_base(
                    images, depth_multiplier=depth_multiplier, min_depth=min_depth, scope="InceptionV2"
                )
    return end_points


@functools.lru_cache(maxsize=4)
def _inference_graph(
    image_shape: tuple[int | None, int | None, int],
    num_classes: int | None,
    depth_multiplier: float,
    min_depth: int,
    spatial_squeeze: bool,
    use_ema: bool,
):
    """slim's inference graph for one configuration, built once per process.

    tf_slim builds its graph op by op through TensorFlow's graph-mode Python, which costs
    seconds for this network; the built graph holds no weights (they live in each session),
    so every session of the same configuration can share it. Returns ``(graph, images
    placeholder, end points, saver)``; the graph is finalized, so no caller can add to it.
    """
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, (None, *image_shape), name="images")
        end_points = _build(images, num_classes, False, depth_multiplier, min_depth, spatial_squeeze)
        suffix = EMA_SUFFIX if use_ema else ""
        saver = tf.compat.v1.train.Saver({v.op.name + suffix: v for v in tf.compat.v1.global_variables()})
    graph.finalize()
    return graph, images, end_points, saver


def slim_session(
    checkpoint: str,
    image_shape: tuple[int | None, int | None, int] = (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE, 3),
    num_classes: int | None = NUM_CLASSES,
    depth_multiplier: float = DEPTH_MULTIPLIER,
    min_depth: int = MIN_DEPTH,
    spatial_squeeze: bool = True,
    use_ema: bool = False,
):
    """tf_slim's graph (inference mode) in a TF1 session, restored by slim's Saver.

    ``checkpoint`` is what ``tf.compat.v1.train.Saver.restore`` takes (V1 file or V2
    prefix). Returns ``(session, images placeholder, end points)``; closing the session
    frees its weights.
    """
    import tensorflow as tf

    graph, images, end_points, saver = _inference_graph(
        tuple(image_shape), num_classes, depth_multiplier, min_depth, spatial_squeeze, use_ema
    )
    session = tf.compat.v1.Session(graph=graph)
    try:
        with graph.as_default():  # outside its graph the Saver would restore eagerly
            saver.restore(session, checkpoint)
    except BaseException:
        session.close()
        raise
    return session, images, dict(end_points)


def slim_end_points(
    checkpoint: str,
    images: np.ndarray,
    num_classes: int | None = NUM_CLASSES,
    depth_multiplier: float = DEPTH_MULTIPLIER,
    min_depth: int = MIN_DEPTH,
    spatial_squeeze: bool = True,
    use_ema: bool = False,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Every end point of tf_slim's graph for ``images`` (NHWC float32 in [-1, 1])."""
    images = np.asarray(images, np.float32)
    session, inputs, end_points = slim_session(
        checkpoint, images.shape[1:], num_classes, depth_multiplier, min_depth, spatial_squeeze, use_ema
    )
    with session:
        outputs = [
            session.run(end_points, {inputs: images[i : i + batch_size]})
            for i in range(0, len(images), batch_size)
        ]
    return {k: np.concatenate([o[k] for o in outputs]) for k in end_points}


def save_slim_variables(variables: Mapping[str, np.ndarray], path: str, version: str = "V2") -> str:
    """Write ``{name: array}`` as a name-based TF checkpoint (slim's ``Saver`` format).

    ``version`` "V1" writes the single-file format of slim's 2016 releases. Returns
    the path to restore from.
    """
    import tensorflow as tf

    write_version = {"V1": tf.compat.v1.train.SaverDef.V1, "V2": tf.compat.v1.train.SaverDef.V2}
    graph = tf.Graph()
    with graph.as_default():
        # The values are fed to the initializers, not written into the graph as constants:
        # a graph that held them would copy every weight into its definition.
        values = {name: np.asarray(value) for name, value in variables.items()}
        initial = {name: tf.compat.v1.placeholder(value.dtype, value.shape) for name, value in values.items()}
        var_list = {
            name: tf.compat.v1.Variable(initial[name], name=name.replace(":", "_")) for name in values
        }
        saver = tf.compat.v1.train.Saver(var_list, write_version=write_version[version])
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(
                tf.compat.v1.global_variables_initializer(),
                {initial[name]: value for name, value in values.items()},
            )
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            return saver.save(sess, path, write_meta_graph=False, write_state=False)


def random_slim_variables(
    num_classes: int | None = NUM_CLASSES,
    depth_multiplier: float = DEPTH_MULTIPLIER,
    min_depth: int = MIN_DEPTH,
    seed: int = 0,
    image_size: int = DEFAULT_IMAGE_SIZE,
    calibration_batch: int = 4,
) -> dict[str, np.ndarray]:
    """Random weights for slim's graph in which every tensor matters.

    Weights come from slim's own initializers; betas and biases are non-zero. Batch
    norm moving statistics are the batch statistics of a smooth random batch (so
    activations keep a sane scale through all layers, as in a trained network),
    then perturbed so that they differ from those and from 0/1.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.set_random_seed(seed)
        inputs = tf.compat.v1.placeholder(tf.float32, (calibration_batch, image_size, image_size, 3))
        _build(inputs, num_classes, True, depth_multiplier, min_depth, True)
        model_vars = tf.compat.v1.global_variables()
        batch_norms = [op for op in graph.get_operations() if op.type.startswith("FusedBatchNorm")]
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            # One run per step, not one per variable: each new set of fetches builds an executor.
            shifted = [v for v in model_vars if v.op.name.endswith(("/beta", "/biases"))]
            sess.run(
                [v.initializer for v in shifted],
                {v.initializer.inputs[1]: rng.normal(0.0, 0.2, v.shape).astype(np.float32) for v in shifted},
            )
            stats = sess.run(
                [(op.outputs[1], op.outputs[2]) for op in batch_norms],
                {inputs: smooth_random_images(calibration_batch, image_size, image_size, rng)},
            )
            values = dict(zip([v.op.name for v in model_vars], sess.run(model_vars), strict=True))
    for op, (mean, variance) in zip(batch_norms, stats, strict=True):
        scope = op.name.rsplit("/BatchNorm/", 1)[0].replace("InceptionV2/InceptionV2/", "InceptionV2/")
        std = np.sqrt(variance)
        values[f"{scope}/BatchNorm/moving_mean"] = (mean + rng.normal(0, 0.1, mean.shape) * std).astype(
            np.float32
        )
        values[f"{scope}/BatchNorm/moving_variance"] = (
            variance * rng.uniform(0.7, 1.4, variance.shape)
        ).astype(np.float32)
    return values


def smooth_random_images(n: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Images in [-1, 1] with image-like spatial correlation (low-frequency noise)."""
    coarse = rng.uniform(-1, 1, (n, height // 8 + 2, width // 8 + 2, 3))
    rows = np.linspace(0, coarse.shape[1] - 1.001, height)
    cols = np.linspace(0, coarse.shape[2] - 1.001, width)
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[None, :, None, None], (cols - c0)[None, None, :, None]
    top = coarse[:, r0][:, :, c0] * (1 - fc) + coarse[:, r0][:, :, c0 + 1] * fc
    bottom = coarse[:, r0 + 1][:, :, c0] * (1 - fc) + coarse[:, r0 + 1][:, :, c0 + 1] * fc
    smooth = top * (1 - fr) + bottom * fr
    noise = rng.normal(0, 0.05, smooth.shape)
    return np.clip(smooth + noise, -1, 1).astype(np.float32)
