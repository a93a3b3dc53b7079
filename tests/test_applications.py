"""keras.applications' own conventions (its applications_test, restated), in both image layouts.

Building is enough for these (TensorFlow's CPU kernels have no NCHW convolution; the
channels_first forward pass is compared with slim on JAX and PyTorch in test_backends.py).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from inception_v2 import InceptionV2

LAST_DIM = 1024  # Mixed_5c channels


@pytest.fixture(params=["channels_last", "channels_first"])
def data_format(request):
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(request.param)
    yield request.param
    keras.config.set_image_data_format(previous)


def _shape(data_format: str, height, width, channels: int = 3) -> tuple:
    return (channels, height, width) if data_format == "channels_first" else (height, width, channels)


@pytest.mark.parametrize("channels", [1, 4])
def test_notop_variable_input_channels(data_format, channels):
    model = InceptionV2(
        weights=None, include_top=False, input_shape=_shape(data_format, None, None, channels)
    )
    channel = 1 if data_format == "channels_first" else -1
    assert model.output_shape[channel] == LAST_DIM
    assert model.input_shape == (None, *_shape(data_format, None, None, channels))


def test_notop_custom_input_shape(data_format):
    model = InceptionV2(weights=None, include_top=False, input_shape=_shape(data_format, 123, 123))
    assert model.output_shape == (None, *_shape(data_format, 4, 4, LAST_DIM))


def test_custom_input_tensor(data_format):
    tensor = keras.Input(shape=_shape(data_format, 160, 160))
    model = InceptionV2(weights=None, include_top=False, input_tensor=tensor, pooling="avg")
    assert model.inputs[0] is tensor and model.output_shape == (None, LAST_DIM)


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_pooling(data_format, pooling):
    """The pooled output is the mean (or max) of the unpooled feature map over its positions,
    computed here with NumPy on the same weights."""
    model = InceptionV2(weights=None, include_top=False, pooling=pooling, depth_multiplier=0.25)
    assert model.output_shape == (None, LAST_DIM // 4)
    unpooled = InceptionV2(
        weights=None, include_top=False, depth_multiplier=0.25, input_shape=_shape(data_format, 96, 96)
    )
    unpooled.set_weights(model.get_weights())
    pooled = InceptionV2(
        weights=None,
        include_top=False,
        pooling=pooling,
        depth_multiplier=0.25,
        input_shape=_shape(data_format, 96, 96),
    )
    pooled.set_weights(model.get_weights())
    images = np.random.default_rng(0).uniform(-1, 1, (2, *_shape(data_format, 96, 96))).astype("float32")
    maps = np.asarray(unpooled.predict(images, verbose=0))
    spatial = (2, 3) if data_format == "channels_first" else (1, 2)
    expected = maps.mean(axis=spatial) if pooling == "avg" else maps.max(axis=spatial)
    np.testing.assert_allclose(pooled.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_classifier_activation_and_serialization(data_format):
    model = InceptionV2(weights=None, classifier_activation="softmax", depth_multiplier=0.25)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.input_shape == (None, *_shape(data_format, 224, 224))
    config = keras.saving.serialize_keras_object(model)
    clone = keras.saving.deserialize_keras_object(config)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.output_shape == model.output_shape == (None, 1001)
