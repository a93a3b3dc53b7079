"""Quick checks of the parts whose full tests are slow (so the quick subset touches every module):
strategy names, live weights, the bench's child-process entry, the crop box the explain sheets draw."""

from __future__ import annotations

import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.errors import InvalidArgument
from inception_v2.live_weights import make_live


def test_strategy_names():
    from inception_v2.distributed import make_strategy

    assert make_strategy(None).num_replicas_in_sync == 1
    with pytest.raises(InvalidArgument, match="distribute must be 'mirrored', 'multi_worker' or None"):
        make_strategy("tpu")


def test_live_weights_make_predictions_vary():
    images = np.random.default_rng(0).uniform(-1, 1, (8, 64, 64, 3)).astype("float32")
    model = InceptionV2(depth_multiplier=0.25, input_shape=(64, 64, 3), classes=10, global_pool=True)
    model = make_live(model, images)
    logits = np.asarray(model.predict(images, verbose=0))
    assert np.isfinite(logits).all() and len(set(logits.argmax(-1).tolist())) >= 2
    folded = InceptionV2(depth_multiplier=0.25, input_shape=(64, 64, 3), classes=10, fold_batch_norm=True)
    with pytest.raises(InvalidArgument, match="no batch norm to calibrate"):
        make_live(folded, images)


def test_bench_worker_refuses_an_unknown_job():
    from inception_v2.bench_worker import main

    with pytest.raises(SystemExit, match="unknown job 'nope'"):
        main(["nope", "{}"])


def test_explain_marks_tensorflows_central_crop():
    import tensorflow as tf

    from inception_v2.explain import central_crop_box

    for height, width in ((333, 500), (199, 500), (227, 227), (500, 375)):
        top, left, h, w = central_crop_box(height, width)
        crop = tf.image.central_crop(tf.reshape(tf.range(height * width), (height, width, 1)), 0.875)
        assert crop.shape[:2] == (h, w)
        assert int(crop[0, 0, 0]) == top * width + left  # the same corner pixel
