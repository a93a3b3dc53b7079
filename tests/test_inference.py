"""``inference_function``: the weights frozen in, still slim's function, kernels reordered once."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from inception_v2 import END_POINTS, InceptionV2, end_point_model
from inception_v2.inference.function import inference_function, predict
from inception_v2.weights.slim_reference import slim_end_points, smooth_random_images


@pytest.fixture(scope="module")
def slim_reference(slim_checkpoints):
    images = smooth_random_images(3, 224, 224, np.random.default_rng(11))
    return images, slim_end_points(slim_checkpoints.path(), images)


@pytest.mark.parametrize("fold", [False, True])
def test_inference_function_equals_slim(fold, slim_checkpoints, slim_reference):
    images, reference = slim_reference
    model = InceptionV2(weights=slim_checkpoints.path(), fold_batch_norm=fold)
    run = inference_function(end_point_model(model))
    # A batch other than the first call's: one trace serves every batch size (oneDNN may
    # pick other kernels per batch size, hence equal up to rounding, not bit for bit).
    first = run(images[:1])
    outputs = run(images)
    assert set(outputs) == set(END_POINTS) and isinstance(outputs["Logits"], np.ndarray)
    np.testing.assert_allclose(first["Logits"], outputs["Logits"][:1], atol=1e-5)
    for name in END_POINTS:
        scale = max(1.0, float(np.abs(reference[name]).max()))
        assert np.abs(outputs[name] - reference[name]).max() <= 1e-4 * scale, name
    assert np.abs(outputs["Logits"] - reference["Logits"]).max() <= 1e-4


@pytest.mark.slow
def test_weights_are_read_when_the_function_is_made(converted_thin):
    """What a function holds is the weights of when it was made (the width does not matter:
    the network four times thinner)."""
    model = InceptionV2(weights=str(converted_thin), depth_multiplier=0.25, classifier_activation=None)
    images = smooth_random_images(2, 224, 224, np.random.default_rng(0))
    run = inference_function(model)
    before = run(images)
    bias = model.get_layer("Logits__Conv2d_1c_1x1").bias
    bias.assign(bias.numpy() + 1.0)
    np.testing.assert_array_equal(run(images), before)  # frozen: unchanged
    np.testing.assert_allclose(inference_function(model)(images), before + 1.0, atol=1e-5)
    np.testing.assert_allclose(predict(model, images, batch_size=1), before + 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="no images"):
        predict(model, images[:0])


COUNT_REORDERS = """
import ctypes, os, sys, numpy as np
from inception_v2 import InceptionV2
from inception_v2.inference.function import inference_function
model = InceptionV2(
    weights=sys.argv[1], depth_multiplier=0.25, classifier_activation=None, fold_batch_norm=True
)
x = np.zeros((2, 224, 224, 3), np.float32)
for run in (model.predict_on_batch, inference_function(model)):
    for _ in range(3):
        run(x)
    ctypes.CDLL(None).fflush(None)  # oneDNN's lines of this runner are out before the marker
    os.write(1, b"RUNNER DONE\\n")
"""


def _onednn_executions(weights) -> list[tuple[int, int]]:
    """(convolutions, reorders) oneDNN logs over three calls of ``predict_on_batch``, then of
    the inference function, in one fresh process (oneDNN's log is set up at its start)."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(
        [sys.executable, "-c", COUNT_REORDERS, str(weights)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *logs, _ = done.stdout.split("RUNNER DONE\n")
    assert len(logs) == 2, done.stdout[-3000:]
    counts = []
    for log in logs:
        executed = [line for line in log.splitlines() if ",exec," in line]
        counts.append((sum(",convolution," in e for e in executed), sum(",reorder," in e for e in executed)))
    return counts


@pytest.mark.slow
def test_inference_function_reorders_kernels_once(converted_thin):
    """The reason it is faster on TensorFlow: oneDNN keeps its reordered kernels.

    Counted from oneDNN's own log over three calls, not timed: predict_on_batch reorders
    each kernel on every call, the inference function on the first call only. (The slim network
    four times thinner: the same 71 convolutions, each kernel reordered alike.)
    """
    (convs, reorders), (frozen_convs, frozen_reorders) = _onednn_executions(converted_thin)
    # x86 builds of TensorFlow run convolutions through oneDNN, which reorders their kernels: a
    # build or CPU that does neither fails here, naming why, rather than passing unmeasured.
    assert convs > 0, "this TensorFlow build does not run its convolutions through oneDNN"
    assert reorders > 0, "oneDNN ran these convolutions on this CPU without reordering kernels"
    assert reorders >= convs // 2
    assert frozen_convs == convs > 3 * 60
    assert frozen_reorders <= reorders // 3 + 1
