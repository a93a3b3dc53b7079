"""KerasHub's front door: the classes pass KerasHub's own harness, presets written by
``convert --preset`` load through keras_hub's generic ``from_preset`` and compute what
``inception-v2 eval`` and slim's graph compute, and bad presets are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from conftest import command, command_env, one_error_line, run_in_process
from keras_hub.src.tests import test_case as keras_hub_tests

from inception_v2 import InceptionV2, end_point_model, inference_function
from inception_v2.cli import main
from inception_v2.data.example_data import example_data_path
from inception_v2.data.labels import data_path
from inception_v2.data.preprocessing import load_for_eval
from inception_v2.errors import InvalidArgument
from inception_v2.hub.models import (
    InceptionV2Backbone,
    InceptionV2ImageClassifier,
    InceptionV2ImageClassifierPreprocessor,
    InceptionV2ImageConverter,
)
from inception_v2.weights.download import sha384_of
from inception_v2.weights.slim_reference import slim_end_points

SMALL = {"depth_multiplier": 0.25}  # the same network, narrower: KerasHub's harness trains it
#: Photos of several sizes (ants and bees: 199x500 to 500x375) and two ImageNet images.
PHOTOS = (
    sorted(example_data_path().glob("val/*/*"))[::2] + sorted(data_path("imagenet_val_sample").iterdir())[:2]
)


def _decoded(files) -> list[tf.Tensor]:
    return [tf.io.decode_image(tf.io.read_file(str(f)), channels=3, expand_animations=False) for f in files]


def _raw_batches(images: list[tf.Tensor]) -> tf.data.Dataset:
    """Raw uint8 images of different sizes, one ragged batch: how a KerasHub user feeds them."""
    spec = tf.TensorSpec((None, None, 3), tf.uint8)
    return tf.data.Dataset.from_generator(lambda: iter(images), output_signature=spec).ragged_batch(
        len(images)
    )


def _small_classifier(num_classes: int = 2, size: int = 64) -> dict:
    converter = InceptionV2ImageConverter(image_size=(size, size))
    return {
        "backbone": InceptionV2Backbone(**SMALL),
        "num_classes": num_classes,
        "preprocessor": InceptionV2ImageClassifierPreprocessor(converter),
    }


@pytest.mark.slow
class TestKerasHubHarness(keras_hub_tests.TestCase):
    """KerasHub's own checks (keras_hub.src.tests.test_case), as its models run them."""

    test_session = None  # tf.test.TestCase's helper, not a test

    def test_vision_backbone(self):
        self.run_vision_backbone_test(
            cls=InceptionV2Backbone,
            init_kwargs={**SMALL, "image_shape": (None, None, 3)},
            input_data=np.random.default_rng(0).uniform(-1, 1, (2, 64, 64, 3)).astype("float32"),
            expected_output_shape=(2, 2, 2, 256),  # Mixed_5c at 1/32, 1024 x 0.25 channels
            expected_pyramid_output_keys=list(PYRAMID),
            expected_pyramid_image_sizes=[(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)],
            # The harness wants every layer in the 16-bit policy; the stem (Conv2d_1a_7x7)
            # stays float32 by design, as in InceptionV2 (test_stem_stays_float32 below).
            run_mixed_precision_check=False,
        )

    def test_backbone_saving(self):
        images = np.random.default_rng(1).uniform(-1, 1, (2, 48, 48, 3)).astype("float32")
        self.run_model_saving_test(cls=InceptionV2Backbone, init_kwargs=SMALL, input_data=images)

    def test_classifier_saving(self):
        raw = np.random.default_rng(2).integers(0, 256, (2, 80, 96, 3)).astype("uint8")
        self.run_model_saving_test(
            cls=InceptionV2ImageClassifier, init_kwargs=_small_classifier(), input_data=raw
        )

    def test_task(self):
        """Predict and fit with each input form the harness has, eagerly: which forms work does
        not depend on tracing, and tracing the whole network's train step is most of the cost.
        The classifier's traced fit runs in test_new_head_fine_tunes_on_raw_images."""
        raw = np.random.default_rng(3).integers(0, 256, (2, 80, 96, 3)).astype("float32")
        self.run_task_test(
            cls=InceptionV2ImageClassifier,
            init_kwargs=_small_classifier(),
            train_data=(raw, np.array([0, 1])),
            expected_output_shape=(2, 2),
            compile_kwargs={"run_eagerly": True},
        )


def test_stem_stays_float32_under_a_16_bit_policy():
    """Why the harness's mixed-precision check is off: all layers but the stem take the policy."""
    backbone = InceptionV2Backbone(**SMALL, dtype="mixed_bfloat16")
    stem = [layer.name for layer in backbone.layers if layer.compute_dtype == "float32" and layer.weights]
    assert stem == ["Conv2d_1a_7x7"]
    convolutions = [layer for layer in backbone.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.compute_dtype == "bfloat16" for layer in convolutions if layer.name != "Conv2d_1a_7x7")


def test_converter_is_slims_eval_preprocessing():
    """One image, a batch, a list of sizes and tf.data: bit for bit ``preprocess_for_eval``."""
    images = _decoded(PHOTOS[:3])
    expected = np.stack([load_for_eval(str(f)) for f in PHOTOS[:3]])
    converter = InceptionV2ImageConverter()
    np.testing.assert_array_equal(np.asarray(converter(images[0].numpy())), expected[0])
    np.testing.assert_array_equal(np.asarray(converter([image.numpy() for image in images])), expected)
    same_size = tf.stack([images[0], images[0]])
    np.testing.assert_array_equal(np.asarray(converter(same_size)), expected[[0, 0]])
    mapped = next(iter(_raw_batches(images).map(converter)))
    np.testing.assert_array_equal(mapped.numpy(), expected)
    assert InceptionV2ImageConverter.from_config(converter.get_config()).crop_fraction == 0.875


@pytest.fixture(scope="module")
def preset(slim_checkpoints, tmp_path_factory) -> Path:
    """``inception-v2 convert CKPT DST --preset`` from tf_slim's own 1001-class checkpoint."""
    dst = tmp_path_factory.mktemp("hub") / "inception_v2_preset"
    assert main(["convert", slim_checkpoints.path(version="V1"), str(dst), "--preset", "--quiet"]) == 0
    return dst


@pytest.mark.slow
def test_preset_folder_and_model_card(preset, slim_checkpoints):
    files = sorted(p.name for p in preset.iterdir())
    for name in ("config.json", "model.weights.h5", "task.json", "task.weights.h5", "preprocessor.json"):
        assert name in files
    assert (
        json.loads((preset / "config.json").read_text())["registered_name"]
        == "inception_v2>InceptionV2Backbone"
    )
    assert json.loads((preset / "metadata.json").read_text())["tasks"] == ["ImageClassifier"]
    card = (preset / "README.md").read_text()
    assert sha384_of(slim_checkpoints.path(version="V1")) in card
    assert "Apache License 2.0" in card and "not measured here" in card  # no accuracy claimed
    assert main(["convert", slim_checkpoints.path(version="V1"), str(preset), "--preset"]) == 2  # exists


@pytest.mark.slow
def test_preset_computes_what_eval_and_slim_compute(preset, slim_checkpoints):
    """Raw photos of several sizes through keras_hub's generic from_preset, against the eval
    path (slim's preprocessing, InceptionV2, the frozen-weights inference function) and
    tf_slim's graph on the same checkpoint."""
    classifier = keras_hub.models.ImageClassifier.from_preset(str(preset))
    assert type(classifier) is InceptionV2ImageClassifier
    logits = classifier.predict(_raw_batches(_decoded(PHOTOS)), verbose=0)
    batch = np.stack([load_for_eval(str(f)) for f in PHOTOS])
    model = InceptionV2(weights=slim_checkpoints.path(), classifier_activation=None)
    np.testing.assert_array_equal(logits, model.predict(batch, verbose=0))  # the same Keras graph
    evaluated = np.asarray(inference_function(model)(batch))  # what `inception-v2 eval` runs
    scale = max(1.0, float(np.abs(evaluated).max()))
    assert np.abs(logits - evaluated).max() <= 1e-5 * scale
    slim = slim_end_points(slim_checkpoints.path(), batch)["Logits"]
    assert np.abs(logits - slim).max() <= 1e-4 * max(1.0, float(np.abs(slim).max()))
    assert len(set(logits.argmax(-1))) >= 2, "the comparison is on predictions that vary"


#: The feature pyramid as the README states it: level, slim's end point, its (height, width,
#: channels) at 224x224 (slim's depths: models/research/slim/nets/inception_v2.py). Written
#: out here, not read from ``PYRAMID_END_POINTS``, so that a wrong entry there fails.
PYRAMID = {
    "P1": ("Conv2d_1a_7x7", (112, 112, 64)),
    "P2": ("Conv2d_2c_3x3", (56, 56, 192)),
    "P3": ("Mixed_3c", (28, 28, 320)),
    "P4": ("Mixed_4e", (14, 14, 576)),
    "P5": ("Mixed_5c", (7, 7, 1024)),
}


def test_the_pyramid_levels_are_slims_end_points():
    """Each level is the named end point's own output (Mixed_4a..4e are all 14x14x576 and
    Mixed_3b/3c both 28x28: the shape alone would not tell them apart)."""
    from inception_v2.model.network import end_point_layer_name

    backbone = InceptionV2Backbone(image_shape=(224, 224, 3))
    assert set(backbone.pyramid_outputs) == set(PYRAMID)
    for level, (end_point, shape) in PYRAMID.items():
        output = backbone.pyramid_outputs[level]
        assert tuple(output.shape[1:]) == shape, level
        assert output is backbone.get_layer(end_point_layer_name(end_point, backbone)).output, level


@pytest.mark.slow
def test_backbone_from_preset_gives_slims_end_points(preset, slim_checkpoints):
    backbone = keras_hub.models.Backbone.from_preset(str(preset))
    assert type(backbone) is InceptionV2Backbone
    batch = np.stack([load_for_eval(str(f)) for f in PHOTOS[:3]])
    pyramid = keras.Model(backbone.inputs, backbone.pyramid_outputs).predict(batch, verbose=0)
    model = InceptionV2(weights=slim_checkpoints.path(), include_top=False)
    end_points = end_point_model(model, [e for e, _ in PYRAMID.values()]).predict(batch, verbose=0)
    for level, (end_point, _) in PYRAMID.items():
        np.testing.assert_array_equal(pyramid[level], end_points[end_point])


@pytest.mark.slow
def test_new_head_fine_tunes_on_raw_images(preset):
    classifier = InceptionV2ImageClassifier.from_preset(str(preset), num_classes=2)
    head = classifier.get_layer("Logits__Conv2d_1c_1x1")
    assert head.kernel.shape[-1] == 2 and classifier.backbone.get_layer("Mixed_5c").output.shape[-1] == 1024
    before = head.kernel.numpy().copy()
    classifier.backbone.trainable = False
    images = _decoded(PHOTOS[:4])
    labels = tf.constant([0, 0, 1, 1])
    data = tf.data.Dataset.zip(_raw_batches(images), tf.data.Dataset.from_tensors(labels))
    history = classifier.fit(data, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and not np.array_equal(head.kernel.numpy(), before)


def test_bad_presets_are_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgument, match="no config.json"):
        InceptionV2ImageClassifier.from_preset(str(tmp_path / "empty"))
    other = keras_hub.models.VGGBackbone(stackwise_num_repeats=[1], stackwise_num_filters=[4])
    other.save_to_preset(str(tmp_path / "vgg"))
    with pytest.raises(InvalidArgument, match="VGGBackbone, not of Inception V2"):
        InceptionV2Backbone.from_preset(str(tmp_path / "vgg"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(InvalidArgument, match="not a KerasHub config"):
        InceptionV2ImageClassifier.from_preset(str(tmp_path / "broken"))
    with pytest.raises(InvalidArgument, match="num_classes must be an integer >= 1, got 0"):
        InceptionV2ImageClassifier.from_preset(str(tmp_path / "vgg"), num_classes=0)
    with pytest.raises(InvalidArgument, match="num_classes"):
        InceptionV2ImageClassifier(InceptionV2Backbone(**SMALL), num_classes=0)


@pytest.mark.slow
def test_preset_option_without_keras_hub_names_the_extra(slim_checkpoints, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "keras_hub.py").write_text("raise ImportError('keras_hub is not installed')\n")
    done = subprocess.run(
        command("convert", slim_checkpoints.path(version="V1"), str(tmp_path / "p"), "--preset"),
        env=command_env(PYTHONPATH=str(blocker)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = one_error_line(done, "keras-hub", 'inception_v2[hub]"')
    assert "Traceback" not in line and not (tmp_path / "p").exists()


@pytest.mark.slow
def test_import_order_does_not_matter():
    """KerasHub finds the classes whether inception_v2 or keras_hub is imported first."""
    for first, second in (("inception_v2", "keras_hub"), ("keras_hub", "inception_v2")):
        code = (
            f"import {first}, {second}, keras; "
            "print(keras.saving.get_registered_object('inception_v2>InceptionV2ImageClassifier').__name__)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert done.stdout.strip().endswith("InceptionV2ImageClassifier"), done.stderr[-2000:]


@pytest.mark.slow
def test_vision_backbone_harness_on_jax_both_data_formats():
    """The harness skips channels_first on TensorFlow's CPU kernels (they lack it); on JAX it
    runs the backbone in both layouts. It checks shapes, saving and quantization, not numbers
    against slim, so XLA's code generator is told not to optimise the programs it compiles
    (the model per layout, and what the harness runs eagerly)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::TestKerasHubHarness::test_vision_backbone",
        ],
        env=command_env(KERAS_BACKEND="jax", XLA_FLAGS="--xla_backend_optimization_level=0"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_a_preset_without_its_head_is_refused_unless_a_new_head_is_asked(preset, tmp_path):
    """A preset that lost task.json loaded with a random 1001-class head through either class;
    now both refuse in one line, and num_classes=N still makes the new head it asks for."""
    import shutil

    headless = tmp_path / "no_task_json"
    shutil.copytree(preset, headless)
    (headless / "task.json").unlink()
    for loader in (InceptionV2ImageClassifier, keras_hub.models.ImageClassifier):
        with pytest.raises(InvalidArgument, match="num_classes"):
            loader.from_preset(str(headless))
    assert InceptionV2ImageClassifier.from_preset(str(headless), num_classes=3).num_classes == 3
    weightless = tmp_path / "no_task_weights"
    shutil.copytree(preset, weightless)
    (weightless / "task.weights.h5").unlink()
    with pytest.raises(InvalidArgument, match="no task.weights.h5, so its classifier head is missing"):
        InceptionV2ImageClassifier.from_preset(str(weightless))


@pytest.mark.slow
def test_a_preset_is_weights_to_the_commands(preset, slim_checkpoints, tmp_path, capsys):
    """eval --weights PRESET (or its model.weights.h5) scores image by image what the checkpoint
    it came from scores; a truncated weight file in it is one line naming that file."""
    import csv
    import shutil

    def predictions(weights, name: str) -> list[dict]:
        csv_path = tmp_path / f"{name}.csv"
        done = run_in_process(
            capsys, "eval", "--weights", weights, "--limit", 6, "--predictions-csv", csv_path
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return list(csv.DictReader(csv_path.open()))

    expected = predictions(slim_checkpoints.path(), "checkpoint")
    assert len({row["top1_index"] for row in expected}) >= 2, "predictions that vary image to image"
    assert predictions(preset, "preset") == expected
    assert predictions(preset / "model.weights.h5", "backbone_file") == expected
    broken = tmp_path / "broken"
    shutil.copytree(preset, broken)
    data = (broken / "model.weights.h5").read_bytes()
    (broken / "model.weights.h5").write_bytes(data[: len(data) // 2])
    one_error_line(
        run_in_process(capsys, "eval", "--weights", broken), f"{broken / 'model.weights.h5'}: not a"
    )


@pytest.mark.slow
def test_a_preset_written_before_the_move_to_sub_packages_still_loads(preset, tmp_path):
    """Presets name their classes' module; before the sub-packages it was ``inception_v2.hub``.
    Keras finds the classes by their registered names, so such a preset loads the same."""
    import shutil

    old = tmp_path / "old_preset"
    shutil.copytree(preset, old)
    changed = 0
    for name in ("config.json", "task.json", "preprocessor.json"):
        text = (old / name).read_text()
        changed += text.count('"inception_v2.hub.models"')
        (old / name).write_text(text.replace('"inception_v2.hub.models"', '"inception_v2.hub"'))
    assert changed >= 3, "the preset names the module of its classes"
    loaded = keras_hub.models.ImageClassifier.from_preset(str(old))
    expected = InceptionV2ImageClassifier.from_preset(str(preset))
    for a, b in zip(loaded.weights, expected.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
