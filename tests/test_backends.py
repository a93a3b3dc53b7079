"""The same model and .weights.h5 give the TF backend's logits on JAX and PyTorch.

Also in ``channels_first`` layout, which TensorFlow's CPU kernels cannot run.

Keras fixes its backend at import, so each backend runs in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.weights.slim_reference import slim_end_points, smooth_random_images

pytestmark = pytest.mark.slow  # runs other backends in subprocesses: not in the quick subset

RUN_BACKEND = """
import sys, numpy as np
from inception_v2 import InceptionV2, end_point_model
from inception_v2.inference.function import inference_function
import keras
assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
images = np.load(sys.argv[3])
for fold in (False, True):
    model = InceptionV2(weights=sys.argv[2], input_shape=images.shape[1:], classifier_activation=None,
                        fold_batch_norm=fold)
    outputs = end_point_model(model, ["Mixed_4e", "Logits"]).predict(images, verbose=0)
    # Whichever drew the kernels (JAX: the host), a saved config names Keras' own initializer.
    assert model.get_layer("Conv2d_2b_1x1").get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    np.save(sys.argv[4] + ("_folded" if fold else "") + ".npy", np.asarray(outputs["Logits"]))
    if not fold:
        np.save(sys.argv[4] + "_mixed4e.npy", np.asarray(outputs["Mixed_4e"]))
    else:
        np.save(sys.argv[4] + "_function.npy", inference_function(model)(images))
# channels_first: the same weights file, NCHW images; outputs back to NHWC to compare.
keras.config.set_image_data_format("channels_first")
nchw = np.transpose(images, (0, 3, 1, 2))
model = InceptionV2(weights=sys.argv[2], input_shape=nchw.shape[1:], classifier_activation=None)
outputs = inference_function(end_point_model(model, ["Mixed_4e", "Logits"]))(nchw)
np.save(sys.argv[4] + "_nchw.npy", outputs["Logits"])
np.save(sys.argv[4] + "_nchw_mixed4e.npy", np.transpose(outputs["Mixed_4e"], (0, 2, 3, 1)))
"""


@pytest.fixture(scope="module")
def on_tensorflow(converted_1001, slim_checkpoints):
    """The images, and their logits from TensorFlow's Keras and slim's end points: computed
    once, compared with each other backend."""
    # 225x193: odd sizes exercise each backend's SAME padding (extra pixel bottom/right).
    images = smooth_random_images(2, 225, 193, np.random.default_rng(7))
    tf_model = InceptionV2(weights=str(converted_1001), input_shape=(225, 193, 3), classifier_activation=None)
    return images, tf_model.predict(images, verbose=0), slim_end_points(slim_checkpoints.path(), images)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_backend_logits_equal_tensorflow(backend, converted_1001, on_tensorflow, tmp_path):
    images, tf_logits, reference = on_tensorflow
    np.save(tmp_path / "images.npy", images)
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_BACKEND,
            backend,
            str(converted_1001),
            str(tmp_path / "images.npy"),
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    other = np.load(tmp_path / "out.npy")
    assert np.abs(other - tf_logits).max() <= 1e-4
    np.testing.assert_allclose(np.load(tmp_path / "out_folded.npy"), tf_logits, atol=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "out_function.npy"), tf_logits, atol=1e-4)
    # And against slim itself, so a bug shared by both Keras backends cannot hide.
    assert np.abs(other - reference["Logits"]).max() <= 1e-4
    scale = np.abs(reference["Mixed_4e"]).max()
    assert np.abs(np.load(tmp_path / "out_mixed4e.npy") - reference["Mixed_4e"]).max() <= 1e-4 * scale
    # channels_first gives slim's numbers too (keras.applications' models support it).
    assert np.abs(np.load(tmp_path / "out_nchw.npy") - reference["Logits"]).max() <= 1e-4
    assert np.abs(np.load(tmp_path / "out_nchw_mixed4e.npy") - reference["Mixed_4e"]).max() <= 1e-4 * scale


RUN_TORCH_COMPILE = """
import numpy as np, keras, torch
from inception_v2.inference.function import inference_function
assert keras.backend.backend() == "torch"
# Dynamo traces the project's function and AOTAutograd lowers it; inductor's C++ code generation
# (PyTorch's own, tens of seconds even for this model) is left to `bench --torch-compile`.
compile_with_inductor, backends = torch.compile, []
def compile_without_codegen(fn, **options):
    backends.append(options.pop("backend", "inductor"))
    return compile_with_inductor(fn, backend="aot_eager", **options)
torch.compile = compile_without_codegen
keras.utils.set_random_seed(0)
inputs = keras.Input((16, 16, 3))
x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
x = keras.layers.BatchNormalization(scale=False, epsilon=1e-3)(x)
x = keras.layers.ReLU()(x)
x = keras.layers.Concatenate()([x, keras.layers.AveragePooling2D(3, 1, padding="same")(inputs)])
model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
model.layers[2].moving_mean.assign(np.linspace(-1, 1, 8))
images = np.random.default_rng(0).normal(size=(4, 16, 16, 3)).astype(np.float32)
compiled = inference_function(model, torch_compile=True)(images)
eager = keras.ops.convert_to_numpy(model(images, training=False))
assert isinstance(compiled, np.ndarray) and compiled.shape == (4, 11), compiled.shape
np.testing.assert_allclose(compiled, eager, atol=1e-5)
assert backends == ["inductor"], backends  # what the option asks of torch.compile
print("OK")
"""


def test_torch_compile_inference_function():
    """The ``torch_compile`` option's plumbing, on a small model: torch.compile traces it and
    gives the eager numbers (compiling the whole network with inductor takes minutes on CPU;
    ``inception-v2 bench --torch-compile`` times it)."""
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run(
        [sys.executable, "-c", RUN_TORCH_COMPILE], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stderr[-3000:]
