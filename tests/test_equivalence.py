"""The Keras model computes what tf_slim's inception_v2 graph computes, end point by end point.

Each case converts a checkpoint that tf_slim built (random weights, non-zero betas and
biases, moving statistics that differ from 0/1), loads the result into the Keras model,
and compares with tf_slim's own graph restored from the same checkpoint by slim's Saver.
"""

from __future__ import annotations

import numpy as np
import pytest

from inception_v2 import END_POINTS, InceptionV2, convert_checkpoint, end_point_model
from inception_v2.weights.slim_reference import slim_end_points, smooth_random_images

pytestmark = pytest.mark.slow  # trains, or runs several backends or commands: not in the quick subset

LOGITS_TOLERANCE = 1e-4
# Deep end points reach |x| ~ 10: compare them relative to their own magnitude.
END_POINT_RELATIVE_TOLERANCE = 1e-4

CASES = {
    # id: (num_classes, depth_multiplier, min_depth, format, (H, W), batch, spatial_squeeze)
    "224-1001-V1-batch8": (1001, 1.0, 16, "V1", (224, 224), 8, True),
    "224-1001-V2-batch1": (1001, 1.0, 16, "V2", (224, 224), 1, True),
    "depth0.5": (1001, 0.5, 16, "V2", (224, 224), 2, True),
    "depth0.25-min_depth24": (1001, 0.25, 24, "V2", (224, 224), 2, True),
    "10-classes": (10, 1.0, 16, "V2", (224, 224), 2, True),
    "225x193": (1001, 1.0, 16, "V2", (225, 193), 2, True),
    "112x112": (1001, 1.0, 16, "V2", (112, 112), 2, True),
    "299x299-no-squeeze": (1001, 1.0, 16, "V2", (299, 299), 2, False),
}


def _assert_live(reference: dict[str, np.ndarray]) -> None:
    """The reference exercises every layer: no end point is constant or dead."""
    for name in END_POINTS[:-1]:  # Predictions follow from Logits
        value = reference[name]
        assert value.std() > 1e-2, f"{name} is nearly constant: the test would prove little"
        if name.startswith(("Conv2d", "Mixed", "MaxPool")):
            active = (value > 0).mean()
            assert 0.05 < active < 0.95, f"{name}: {active:.0%} of ReLU outputs active"


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_keras_equals_slim(case, slim_checkpoints, tmp_path, record_property):
    classes, depth_multiplier, min_depth, version, (height, width), batch, squeeze = CASES[case]
    checkpoint = slim_checkpoints.path(classes, depth_multiplier, min_depth, version)
    weights = tmp_path / "converted.weights.h5"
    conversion = convert_checkpoint(checkpoint, weights)
    assert conversion.config.classes == classes
    assert conversion.config.depth_multiplier == depth_multiplier
    assert conversion.config.min_depth == min_depth or depth_multiplier >= 1.0

    images = smooth_random_images(batch, height, width, np.random.default_rng(batch))
    reference = slim_end_points(
        checkpoint,
        images,
        num_classes=classes,
        depth_multiplier=depth_multiplier,
        min_depth=min_depth,
        spatial_squeeze=squeeze,
    )
    _assert_live(reference)

    model = InceptionV2(
        weights=str(weights),
        input_shape=(height, width, 3),
        classes=classes,
        depth_multiplier=depth_multiplier,
        min_depth=min_depth,
        spatial_squeeze=squeeze,
    )
    outputs = end_point_model(model).predict(images, batch_size=batch, verbose=0)

    diffs = {}
    for name in END_POINTS:
        assert outputs[name].shape == reference[name].shape, name
        diffs[name] = float(np.abs(outputs[name] - reference[name]).max())
        scale = max(1.0, float(np.abs(reference[name]).max()))
        assert diffs[name] <= END_POINT_RELATIVE_TOLERANCE * scale, (name, diffs[name], scale)
    assert diffs["Logits"] <= LOGITS_TOLERANCE
    np.testing.assert_array_equal(
        outputs["Logits"].reshape(batch, -1, classes).argmax(-1),
        reference["Logits"].reshape(batch, -1, classes).argmax(-1),
    )
    record_property("max_abs_diff", diffs)
    print(
        f"\n{case}: logits max|diff| {diffs['Logits']:.3g}, worst end point "
        f"{max(diffs, key=diffs.get)} {max(diffs.values()):.3g}"
    )


def test_model_plain_call_equals_predict(converted_1001):
    """Calling the model directly (training=False) gives predict's numbers; dropout is off."""
    model = InceptionV2(weights=str(converted_1001), classifier_activation=None)
    images = smooth_random_images(2, 224, 224, np.random.default_rng(1))
    called = np.asarray(model(images, training=False))
    predicted = model.predict(images, verbose=0)
    np.testing.assert_allclose(called, predicted, atol=1e-5)
    assert called.shape == (2, 1001)
