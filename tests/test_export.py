"""Exported classifiers (SavedModel, LiteRT, ONNX, OpenVINO IR) take raw images and match the Keras model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from conftest import one_error_line, run_in_process

from inception_v2.data.example_data import example_data_path
from inception_v2.data.labels import synsets
from inception_v2.data.preprocessing import decode_image, load_for_eval
from inception_v2.export.artifacts import export
from inception_v2.inference.served import load_served
from inception_v2.training.classifier import build_classifier

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


def test_a_fine_tuned_models_class_names_travel_in_the_file(classifier, tmp_path):
    """A 3-class head exported to ONNX: onnxruntime's own client, fed a photo decoded at its own
    size, gets the Keras model's probabilities on slim's preprocessing, and the file names its
    classes. (Every format, verified, on a network whose top-1 varies: tests/test_served.py.)"""
    import onnxruntime

    names = ["ants", "bees", "wasps"]
    path = export(classifier, tmp_path / "model.onnx", labels=names)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for photo in sorted((example_data_path() / "val" / "ants").iterdir())[:2]:  # two sizes
        image = decode_image(tf.io.read_file(str(photo))).numpy()
        expected = tf.nn.softmax(classifier.predict(load_for_eval(str(photo))[None], verbose=0)).numpy()
        served = session.run(["probabilities"], {"images": image[None]})[0]
        np.testing.assert_allclose(served, expected, atol=1e-5)
        assert served.std() > 1e-3, "probabilities must depend on the image for the check to mean much"
    assert load_served(path).labels == names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"], "no staging files left"
    with pytest.raises(FileExistsError):
        export(classifier, path)


def test_cli_export_names_imagenets_classes_and_keeps_a_users_bin(converted_thin, tmp_path, capsys):
    """The command's IR carries slim's 1001 labels (read here with OpenVINO itself), and an
    existing .bin beside --out, which the IR would overwrite, is refused before any work."""
    import json

    import openvino

    out = tmp_path / "imagenet.xml"
    users = tmp_path / "imagenet.bin"
    users.write_bytes(b"mine")
    done = run_in_process(capsys, "export", "--weights", converted_thin, "--out", out)
    one_error_line(done, str(users), "exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imagenet.bin"] and users.read_bytes() == b"mine"
    users.unlink()
    done = run_in_process(capsys, "export", "--weights", converted_thin, "--out", out, "--no-verify")
    assert done.returncode == 0 and "verify:" not in done.stderr, done.stderr
    model = openvino.Core().read_model(str(out))
    labels = json.loads(model.get_rt_info("inception_v2_labels").astype(str))
    assert labels == ["background", *synsets()]
    assert [i.get_any_name() for i in model.inputs] == ["images"]
    assert str(model.inputs[0].get_element_type()) == "<Type: 'uint8_t'>"
    assert model.inputs[0].get_partial_shape().to_string() == "[?,?,?,3]"
