"""Grad-CAM: equal to an independent GradientTape computation, the same on every backend, and
right on a constructed case whose answer is known."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.errors import InvalidArgument
from inception_v2.explain.grad_cam import grad_cam

SMALL = {"depth_multiplier": 0.25, "input_shape": (96, 96, 3), "classes": 5, "global_pool": True}


def _small_model():
    keras.utils.set_random_seed(0)
    return InceptionV2(**SMALL)


def _images(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (n, 96, 96, 3)).astype("float32")


def _tape_grad_cam(model, images: np.ndarray, class_index: int, end_point: str) -> np.ndarray:
    """Grad-CAM written out with TensorFlow's GradientTape (Selvaraju et al.: channel weights
    are the spatial mean of d logit / d features; ReLU of the weighted sum; scaled to peak 1)."""
    import tensorflow as tf

    both = keras.Model(
        model.input, [model.get_layer(end_point).output, model.get_layer("Logits__SpatialSqueeze").output]
    )
    with tf.GradientTape() as tape:
        features, logits = both(images, training=False)
        score = tf.reduce_sum(logits[:, class_index])
    gradient = tape.gradient(score, features).numpy()
    expected = np.maximum((gradient.mean(axis=(1, 2), keepdims=True) * features.numpy()).sum(-1), 0)
    return expected / expected.max(axis=(1, 2), keepdims=True)


def test_equals_an_independent_gradient_tape():

    model, images = _small_model(), _images()
    maps = grad_cam(model, images, 2, end_point="Mixed_4e")
    expected = _tape_grad_cam(model, images, 2, "Mixed_4e")
    assert maps.shape == (3, 6, 6) and np.abs(maps - expected).max() <= 1e-5
    assert len({float(m.max()) for m in maps}) == 1 and maps.max() == 1.0


def _channel_reader(logit_weights: np.ndarray) -> keras.Model:
    """A known network: ``Mixed_5c`` passes the image's 2 channels through (identity 1x1
    convolution), then each logit is a weighted sum of the channels' means (``logit_weights``,
    one column per class)."""
    inputs = keras.Input((8, 8, 2))
    features = keras.layers.Conv2D(2, 1, name="Mixed_5c")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    logits = keras.layers.Dense(logit_weights.shape[1], name="Logits__SpatialSqueeze")(pooled)
    model = keras.Model(inputs, logits)
    model.get_layer("Mixed_5c").set_weights([np.eye(2, dtype="float32")[None, None], np.zeros(2, "float32")])
    bias = np.zeros(logit_weights.shape[1], "float32")
    model.get_layer("Logits__SpatialSqueeze").set_weights([logit_weights.astype("float32"), bias])
    return model


def test_peaks_where_the_class_is_seen():
    """A known answer: class 0 reads channel 0, class 1 channel 1 (global average, then a
    dense layer); the image holds channel 0 only in its top-left quarter, channel 1 only
    elsewhere. Class 0's map is that quarter, class 1's the rest."""
    model = _channel_reader(np.eye(2))
    image = np.zeros((1, 8, 8, 2), "float32")
    image[0, :4, :4, 0] = 1.0
    image[0, :, :, 1] = 1.0
    image[0, :4, :4, 1] = 0.0
    quarter = np.zeros((8, 8), bool)
    quarter[:4, :4] = True
    class0, class1 = grad_cam(model, image, 0)[0], grad_cam(model, image, 1)[0]
    assert (class0[quarter] == 1).all() and (class0[~quarter] == 0).all()
    assert (class1[~quarter] == 1).all() and (class1[quarter] == 0).all()


def test_evidence_against_the_class_is_not_shown():
    """Grad-CAM keeps only what raises the class (the ReLU of the weighted sum): class 0's logit
    is channel 0's mean minus channel 1's, so the region of channel 1 counts against it and must
    read 0, not its magnitude (a map of |weights . values| would light it up as strongly)."""
    model = _channel_reader(np.array([[1.0], [-1.0]]))
    image = np.zeros((1, 8, 8, 2), "float32")
    image[0, :4, :4, 0] = 1.0  # for the class, top-left quarter
    image[0, 4:, :, 1] = 1.0  # against it, the bottom half
    heat = grad_cam(model, image, 0)[0]
    assert (heat[:4, :4] == 1).all(), "what raises the class is the map's peak"
    assert (heat[4:, :] == 0).all(), "what lowers the class reads 0"


def test_unknown_end_point_is_refused():
    with pytest.raises(InvalidArgument, match="unknown end point 'Mixed_9z'"):
        grad_cam(_small_model(), _images(1), 0, end_point="Mixed_9z")


OTHER_BACKEND = """
import sys, numpy as np, keras
from inception_v2 import InceptionV2
from inception_v2.explain.grad_cam import grad_cam
model = InceptionV2(depth_multiplier=0.25, input_shape=(96, 96, 3), classes=5, global_pool=True)
model.load_weights(sys.argv[1])
images = np.load(sys.argv[2])
np.save(sys.argv[3], grad_cam(model, images, np.array([0, 1, 4]), end_point="Mixed_5c"))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_same_maps_on_every_backend(backend, tmp_path):
    model, images = _small_model(), _images()
    model.save_weights(tmp_path / "w.weights.h5")
    np.save(tmp_path / "images.npy", images)
    expected = grad_cam(model, images, np.array([0, 1, 4]), end_point="Mixed_5c")
    env = {**os.environ, "KERAS_BACKEND": backend}
    args = [str(tmp_path / "w.weights.h5"), str(tmp_path / "images.npy"), str(tmp_path / "maps.npy")]
    done = subprocess.run(
        [sys.executable, "-c", OTHER_BACKEND, *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert np.abs(np.load(tmp_path / "maps.npy") - expected).max() <= 1e-4


@pytest.mark.slow
def test_explain_writes_one_sheet_per_image(converted_thin, tmp_path, capsys):
    from inception_v2.cli import main
    from inception_v2.data.example_data import example_data_path

    photos = sorted(example_data_path().glob("val/ants/*"))[:2]  # 333x500 and other shapes
    out = tmp_path / "why"
    argv = ["explain", *map(str, photos), "--weights", str(converted_thin), "--out", str(out), "--top", "2"]
    assert main(argv) == 0
    sheets = capsys.readouterr().out.split()
    assert len(sheets) == 2 and all(open(s, "rb").read(8) == b"\x89PNG\r\n\x1a\n" for s in sheets)
    assert main(argv) == 2  # never into an existing folder without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal of a choice
        main([*argv[:-4], "--out", str(tmp_path / "x"), "--end-point", "Mixed_9z"])
    assert refused.value.code == 2 and not (tmp_path / "x").exists()
    assert "--end-point: invalid choice: 'Mixed_9z'" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_mistakes_sheet_holds_the_most_confident_wrong_predictions(converted_thin, tmp_path, capsys):
    import csv
    import json

    from inception_v2.cli import main

    report, sheet, predictions = tmp_path / "r.json", tmp_path / "mistakes.png", tmp_path / "p.csv"
    argv = ["eval", "--weights", str(converted_thin), "--mistakes", "4", "--out-mistakes", str(sheet)]
    assert main([*argv, "--report", str(report), "--predictions-csv", str(predictions), "--quiet"]) == 0
    mistakes = json.loads(report.read_text())["mistakes"]
    with open(predictions) as f:
        wrong = [r for r in csv.DictReader(f) if r["top1_index"] != r["label_index"]]
    confidence = {r["id"]: float(r["top1_prob"]) for r in wrong}
    chosen = [m["id"] for m in mistakes]
    assert len(chosen) == 4 and all(i in confidence for i in chosen)  # all of them wrong
    left_out = max(c for i, c in confidence.items() if i not in chosen)
    assert min(confidence[i] for i in chosen) >= left_out - 1e-6  # none surer was left out
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    assert all(m["predicted_index"] != m["label_index"] for m in mistakes)
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["eval", "--mistakes", "3"]) == 2
    assert "--mistakes N and --out-mistakes FILE go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--mistakes", "0", "--out-mistakes", str(tmp_path / "m.png")])
    assert "--mistakes: must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_explain_names_a_fine_tuned_models_classes(tmp_path, monkeypatch):
    """A fine-tuned model (weights with ``classes.json`` beside them, as finetune writes) is
    explained in its own classes: their names on the sheet, each map its class's Grad-CAM."""
    import json
    from dataclasses import asdict

    from inception_v2.data.example_data import example_data_path
    from inception_v2.data.preprocessing import load_for_eval
    from inception_v2.explain import sheets as explain
    from inception_v2.inference.model import classifier
    from inception_v2.weights.checkpoint import infer_config, model_variable_map
    from inception_v2.weights.keras_files import save_weights

    names = ["ant", "bee", "cricket", "dragonfly", "earwig"]
    weights = tmp_path / "run" / "best.weights.h5"
    weights.parent.mkdir()
    model = _small_model()
    save_weights(model, weights, asdict(infer_config(model_variable_map(model))))  # as finetune does
    (weights.parent / "classes.json").write_text(json.dumps(names))
    drawn = []
    monkeypatch.setattr(
        explain, "_sheet", lambda path, image, maps, labels, *rest: drawn.append((maps, labels))
    )
    photo = sorted(example_data_path().glob("val/bees/*"))[0]
    explain.explain_images(weights, [photo], tmp_path / "why", end_point="Mixed_4e", top=2)

    ((maps, labels),) = drawn
    model, classes = classifier(weights)
    image = load_for_eval(str(photo))[np.newaxis]
    probabilities = np.asarray(model.predict(image, verbose=0))[0]
    best = np.argsort(-probabilities)[:2]
    assert classes == 5 and [label.split()[1] for label in labels] == [names[k] for k in best]
    for k, shown in zip(best, maps, strict=True):  # against the GradientTape, not grad_cam itself
        assert np.abs(shown - _tape_grad_cam(model, image, int(k), "Mixed_4e")[0]).max() <= 1e-5
