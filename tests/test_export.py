"""Exported classifiers (SavedModel, LiteRT, ONNX) reload and match the Keras model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from inception_v2.cli import main
from inception_v2.export.artifacts import export
from inception_v2.training.classifier import build_classifier
from inception_v2.weights.slim_reference import smooth_random_images

pytestmark = pytest.mark.slow  # trains, or runs several backends or commands: not in the quick subset


@pytest.fixture(scope="module")
def classifier(slim_checkpoints):
    """A 3-class head on slim's network four times thinner: every kind of layer the release
    has, for formats whose conversion does not depend on the width."""
    model = build_classifier(3, weights=slim_checkpoints.path(depth_multiplier=0.25))
    head = model.get_layer("Logits__Conv2d_1c_1x1")  # a non-trivial head
    head.set_weights(
        [np.random.default_rng(0).normal(0, 0.01, w.shape).astype("float32") for w in head.get_weights()]
    )
    return model


def _run_litert(path, images):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source, sink = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for image in images:
        interpreter.set_tensor(source["index"], image[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(sink["index"]))
    return np.concatenate(outputs)


def _run_onnx(path, images):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def _run_savedmodel(path, images):
    loaded = tf.saved_model.load(str(path))
    return loaded.signatures["preprocessed"](images=tf.constant(images))["probabilities"].numpy()


@pytest.mark.parametrize(
    "fmt,name,runner",
    [
        ("savedmodel", "model", _run_savedmodel),
        ("litert", "model.tflite", _run_litert),
        ("onnx", "model.onnx", _run_onnx),
    ],
)
def test_export_round_trip(classifier, tmp_path, fmt, name, runner):
    images = smooth_random_images(2, 224, 224, np.random.default_rng(5))
    expected = tf.nn.softmax(classifier.predict(images, verbose=0)).numpy()
    said = []
    path = export(classifier, tmp_path / name, fmt, verify=True, say=said.append)
    runtime = {"savedmodel": "TensorFlow", "litert": "LiteRT interpreter", "onnx": "onnxruntime"}[fmt]
    assert said[0].startswith("verify: 113 images (") and f" on {runtime}" in said[0], said
    assert "top-1 agrees on 113/113" in said[0], said
    served = runner(path, images)
    assert served.shape == expected.shape == (2, 3)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert served.std() > 1e-3, "probabilities must depend on the image for the check to mean much"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "no staging folders left"
    with pytest.raises(FileExistsError):
        export(classifier, path, fmt)


def test_cli_export(converted_thin, tmp_path):
    out = tmp_path / "imagenet.tflite"
    assert main(["export", "--weights", str(converted_thin), "--out", str(out), "--format", "litert"]) == 0
    images = smooth_random_images(1, 224, 224, np.random.default_rng(6))
    probabilities = _run_litert(out, images)
    assert probabilities.shape == (1, 1001) and abs(float(probabilities.sum()) - 1.0) < 1e-4
    # the probabilities of the Keras model the file came from, not merely some that sum to 1
    from inception_v2.data.labels import softmax
    from inception_v2.weights.factory import build_from_weights

    keras_logits = build_from_weights(converted_thin, classifier_activation=None)[0].predict(
        images, verbose=0
    )
    np.testing.assert_allclose(probabilities, softmax(keras_logits), atol=1e-5)
