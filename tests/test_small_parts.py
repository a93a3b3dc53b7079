"""Quick checks of the parts whose full tests are slow (so the quick subset touches every module):
strategy names, live weights, the bench's child processes and agreement figures, the crop box the
explain sheets draw, the BN study's table and curves file."""

from __future__ import annotations

import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.bench.live_weights import make_live
from inception_v2.errors import InvalidArgument


def test_strategy_names():
    from inception_v2.training.distributed import make_strategy

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
    from inception_v2.bench.worker import main

    with pytest.raises(SystemExit, match="unknown job 'nope'"):
        main(["nope", "{}"])


def test_explain_marks_tensorflows_central_crop():
    import tensorflow as tf

    from inception_v2.explain.sheets import central_crop_box

    for height, width in ((333, 500), (199, 500), (227, 227), (500, 375)):
        top, left, h, w = central_crop_box(height, width)
        crop = tf.image.central_crop(tf.reshape(tf.range(height * width), (height, width, 1)), 0.875)
        assert crop.shape[:2] == (h, w)
        assert int(crop[0, 0, 0]) == top * width + left  # the same corner pixel


def test_bn_study_summary_counts_steps_to_the_baselines_best(tmp_path):
    from inception_v2.studies.bn.results import read_curves, summarize, write_curves

    def curve(*accuracies):
        return [{"step": 10 * i, "val_accuracy": a, "loss": None} for i, a in enumerate(accuracies)]

    curves = {"Inception": curve(0.1, 0.5, 0.6), "BN-x5": curve(0.1, 0.7, 0.8)}
    curves["BN-x5-Sigmoid"] = curve(0.1, 0.2)
    table = {row["variant"]: row for row in summarize(curves)}
    assert table["Inception"]["steps_to_baseline_best"] == 20 and table["Inception"]["speed_up"] == 1.0
    assert table["BN-x5"]["steps_to_baseline_best"] == 10 and table["BN-x5"]["speed_up"] == 2.0
    assert table["BN-x5"]["best_val_accuracy"] == 0.8 and table["BN-x5"]["best_at_step"] == 20
    never = table["BN-x5-Sigmoid"]
    assert never["steps_to_baseline_best"] is None and never["speed_up"] is None
    # 95 % of the baseline's best (0.57): Inception at step 20 still, BN-x5 at 10, the third never
    assert table["Inception"]["steps_to_baseline_best_95pc"] == 20
    assert table["BN-x5"]["steps_to_baseline_best_95pc"] == 10 and table["BN-x5"]["speed_up_95pc"] == 2.0
    assert never["steps_to_baseline_best_95pc"] is None
    write_curves(tmp_path / "curves.csv", curves)
    assert read_curves(tmp_path / "curves.csv") == curves, "curves.csv reads back what was written"


def test_bench_worker_failure_comes_back_as_its_last_line():
    from inception_v2.bench.pipeline import run_worker

    result, last = run_worker("nope", {})
    assert result is None and "unknown job 'nope'" in last


def test_agreement_counts_what_a_reduced_precision_changed():
    """The bench's agreement figures on a known answer: four images, six classes; the reduced
    path flips image 1 (float32 leads by 0.5) and image 3 (leads by 4.9, but the path's top 5
    still holds float32's top-1)."""
    from inception_v2.bench.agreement import agreement

    logits = np.array(
        [[3, 0, -1, 0, 0, 0], [0, 2, 1.5, 0, 0, 0], [1, 0, 0.2, 0, 0, 0], [0, 0.1, 5, 0, 0, 0]], np.float32
    )
    changed = logits.copy()
    changed[1, 2], changed[3, 1] = 2.5, 5.5
    features = np.ones((4, 2), np.float32)
    reference = {"Logits": logits, "Mixed_5c": features * 4}
    result = agreement(reference, {"bf16": {"Logits": changed, "Mixed_5c": features * 5}})
    assert result["images"] == 4 and result["distinct_top1"] == 3
    assert result["median_top1_margin"] == pytest.approx((0.8 + 3.0) / 2)  # margins 3, 0.5, 0.8, 4.9
    assert result["images_with_margin_ge_1"] == 2
    path = result["paths"]["bf16"]
    assert path["top1_agreement"] == 0.5 and path["top1_agreement_where_margin_ge_1"] == 0.5
    assert path["top5_contains_float32_top1"] == 1.0
    assert path["max_logit_error_over_spread"] == pytest.approx(5.4 / 5.0)  # image 3: 5.4 over 5 - 0
    assert path["max_relative_error"] == pytest.approx({"Logits": 5.4 / 5.0, "Mixed_5c": 0.25})
