"""The builder on its own: options tf_slim 1.1.0 cannot build (models/research/slim has
them), the architecture's arithmetic against built models, FLOPs, the dtype policy, the
initialisers, and loaders that never import the builder."""

from __future__ import annotations

import numpy as np
import pytest

from inception_v2 import InceptionV2, end_point_model
from inception_v2.weights.checkpoint import infer_config, model_variable_map
from inception_v2.weights.slim_reference import smooth_random_images


def test_global_pool_is_the_mean_of_mixed_5c():
    model = InceptionV2(input_shape=(299, 299, 3), global_pool=True, classifier_activation=None)
    images = smooth_random_images(2, 299, 299, np.random.default_rng(0))
    outputs = end_point_model(model, ["Mixed_5c", "Logits"]).predict(images, verbose=0)
    head = model.get_layer("Logits__Conv2d_1c_1x1")
    pooled = outputs["Mixed_5c"].mean(axis=(1, 2))
    expected = pooled @ np.asarray(head.kernel)[0, 0] + np.asarray(head.bias)
    assert outputs["Logits"].shape == (2, 1001)
    np.testing.assert_allclose(outputs["Logits"], expected, rtol=1e-4, atol=1e-4)


def test_plain_conv_stem_is_recognised_by_the_converter():
    model = InceptionV2(use_separable_conv=False, depth_multiplier=0.5)
    variables = {name: np.asarray(v) for name, v in model_variable_map(model).items()}
    assert "InceptionV2/Conv2d_1a_7x7/BatchNorm/moving_mean" in variables
    config = infer_config(variables)
    assert (config.use_separable_conv, config.depth_multiplier, config.classes) == (False, 0.5, 1001)


def test_spatial_squeeze_needs_1x1_logits():
    with pytest.raises(ValueError, match="spatial_squeeze=False"):
        InceptionV2(input_shape=(299, 299, 3))


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"depth_multiplier": 0.5}, {"depth_multiplier": 0.25, "min_depth": 24, "use_separable_conv": False}],
)
def test_architecture_arithmetic_equals_the_built_model(kwargs):
    """The loaders infer depths from ``architecture`` without a model: it must say what the builder builds."""
    from inception_v2.model.architecture import SCOPE_SEPARATOR, conv_depths

    model = InceptionV2(**kwargs)
    built = {
        layer.name: layer.filters
        for layer in model.layers
        if type(layer).__name__ == "Conv2D" and not layer.name.startswith("Logits")
    }
    expected = conv_depths(**kwargs)
    assert {name.replace("/", SCOPE_SEPARATOR): d for name, d in expected.items()} == built


def test_multiply_adds_counted_from_the_layers():
    """By hand on a small model (a nested one inside), and the release network's published count."""
    import keras

    from inception_v2.model.architecture import GFLOP_PER_IMAGE
    from inception_v2.model.flops import multiply_adds

    inner = keras.Sequential([keras.Input((4, 4, 8)), keras.layers.DepthwiseConv2D(3, padding="same")])
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)  # 4x4 positions x 3x3x2x8
    x = inner(x)  # 4x4 positions x 3x3x8
    x = keras.layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2)(x)  # 4x4 x (3x3x8x2 + 16x6)
    x = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(x))  # 6x5
    small = keras.Model(inputs, x)
    assert multiply_adds(small) == 16 * 144 + 16 * 72 + 16 * (144 + 96) + 30
    assert round(2 * multiply_adds(InceptionV2()) / 1e9, 2) == GFLOP_PER_IMAGE


LOADERS_ALONE = """
import sys
import numpy as np
import inception_v2.weights.checkpoint, inception_v2.weights.loading
from inception_v2.model.architecture import SLIM_SCOPE, conv_depths
depths = conv_depths(0.5).items()
variables = {f"{SLIM_SCOPE}/{n}/weights": np.zeros((1, 1, 1, d), np.float32) for n, d in depths}
variables[f"{SLIM_SCOPE}/Conv2d_1a_7x7/depthwise_weights"] = np.zeros((7, 7, 3, 8), np.float32)
config = inception_v2.weights.checkpoint.infer_config(variables)
assert config.depth_multiplier == 0.5, config
builders = {"inception_v2.weights.factory", "inception_v2.model.network"} & set(sys.modules)
assert not builders, f"a loader imported {builders}"
print("OK")
"""


@pytest.mark.slow
def test_loaders_do_not_import_the_builder():
    """One direction: resolve -> read arrays -> infer -> assign needs no model module."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LOADERS_ALONE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stderr[-2000:]


def test_building_leaves_the_global_dtype_policy_alone(monkeypatch):
    """The dtype reaches every layer as an argument; the process-wide policy is never set."""
    import keras

    def refuse(policy):
        raise AssertionError(f"the builder set the global dtype policy to {policy}")

    monkeypatch.setattr(keras.config, "set_dtype_policy", refuse)
    model = InceptionV2(dtype="bfloat16", depth_multiplier=0.25, classifier_activation=None)
    by_name = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert by_name["Mixed_4b__Branch_1__Conv2d_0b_3x3"] == "bfloat16"
    assert by_name["Mixed_4b__Branch_3__AvgPool_0a_3x3"] == "bfloat16" and by_name["Mixed_4b"] == "bfloat16"
    # the stem and the classifier stay float32, as the fast path wants
    assert by_name["Conv2d_1a_7x7"] == "float32" and by_name["Logits__Conv2d_1c_1x1"] == "float32"
    assert keras.config.dtype_policy().name == "float32"


def test_host_he_normal_draws_kerass_he_normal():
    """JAX's kernels are drawn on the host: the same truncated normal as Keras' he_normal
    (compared on Keras' own draws), reproducible under ``set_random_seed``, and the built
    layer's config names Keras' HeNormal, so a model saved on JAX loads without this package."""
    import keras

    from inception_v2.model.initializers import HostHeNormal, kernel_initializer, name_keras_initializer

    shape = (3, 3, 64, 96)
    host = np.asarray(HostHeNormal(seed=3)(shape))
    kerass = np.asarray(keras.initializers.HeNormal(seed=3)(shape))
    assert host.shape == shape and host.dtype == np.float32
    assert abs(host.std() / kerass.std() - 1) < 0.02 and abs(host.mean()) < 0.002
    assert np.abs(host).max() <= np.abs(kerass).max() * 1.001, "truncated where Keras truncates"
    np.testing.assert_array_equal(host, np.asarray(HostHeNormal(seed=3)(shape)))
    keras.utils.set_random_seed(0)
    first = np.asarray(HostHeNormal()(shape))
    keras.utils.set_random_seed(0)
    np.testing.assert_array_equal(first, np.asarray(HostHeNormal()(shape)))
    assert not np.array_equal(first, host)
    assert kernel_initializer() == "he_normal", "TensorFlow keeps Keras' own initializer"
    conv = keras.layers.Conv2D(4, 3, kernel_initializer=HostHeNormal(seed=5))
    conv.build((None, 8, 8, 2))
    name_keras_initializer(conv)
    assert conv.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    assert conv.get_config()["kernel_initializer"]["config"]["seed"] == 5


def test_a_network_built_to_be_loaded_draws_nothing(slim_checkpoints):
    """Inside ``for_loading`` the kernels start as zeros (the load replaces them), the configs
    still name he_normal; a scope a load leaves out (``exclude_scopes``) keeps random draws, and
    a load that does not fit fails instead of leaving zeros."""
    import keras

    from inception_v2.model.initializers import for_loading
    from inception_v2.model.network import build_inception_v2
    from inception_v2.weights.checkpoint import CheckpointError
    from inception_v2.weights.factory import build_from_weights

    small = {"depth_multiplier": 0.25, "input_shape": (64, 64, 3), "classes": 5}
    with for_loading():
        unset = build_inception_v2(**small)
    fresh = build_inception_v2(**small)
    name = "Mixed_4b__Branch_1__Conv2d_0a_1x1"
    assert (
        not np.asarray(unset.get_layer(name).kernel).any() and np.asarray(fresh.get_layer(name).kernel).any()
    )
    assert unset.get_config() == fresh.get_config()
    assert fresh.get_layer(name).get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    assert np.asarray(build_inception_v2(**small).get_layer(name).kernel).any(), "outside it: drawn again"

    checkpoint = slim_checkpoints.path(depth_multiplier=0.25)
    loaded = InceptionV2(weights=checkpoint, depth_multiplier=0.25, input_shape=(64, 64, 3))
    assert all(np.asarray(v).any() for v in loaded.weights if v.path.endswith("kernel"))
    kept = build_from_weights(checkpoint, exclude_scopes=("Mixed_5c",), input_shape=(64, 64, 3))[0]
    assert np.asarray(kept.get_layer("Mixed_5c__Branch_0__Conv2d_0a_1x1").kernel).std() > 0, "left as drawn"
    with pytest.raises(CheckpointError, match="does not fit"):
        InceptionV2(weights=checkpoint, depth_multiplier=0.5, input_shape=(64, 64, 3))
    assert keras.config.dtype_policy().name == "float32"
