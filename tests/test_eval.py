"""ImageNet evaluation: slim's preprocessing, data layouts, metrics and bad input."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_DATA

from inception_v2.cli import main
from inception_v2.data.example_data import example_data_path
from inception_v2.data.labels import (
    class_ids,
    class_names,
    data_path,
    decode_predictions,
    read_ground_truth,
    synset_names,
    synset_to_label,
)
from inception_v2.data.preprocessing import load_for_eval, preprocess_input
from inception_v2.data.sources import DataError, class_folders, imagenet_directory, open_data, tfrecords
from inception_v2.evaluation.evaluate import EvalOptions, evaluate, evaluate_runner, in_top_k, top1_correct
from inception_v2.inference.function import inference_function
from inception_v2.weights.factory import build_from_weights

GOLDEN = TEST_DATA / "preprocess"
SAMPLE = data_path("imagenet_val_sample")
GROUND_TRUTH = data_path("imagenet_2012_validation_synset_labels.txt")


@pytest.fixture(scope="module")
def eval_model(converted_1001):
    model, _, _ = build_from_weights(converted_1001, classifier_activation=None)
    return model


@pytest.fixture(scope="module")
def eval_run(eval_model):
    """One compiled forward pass of ``eval_model``, shared by the tests that score data through
    it: each ``evaluate`` call compiles its own (a second or two each on this network)."""
    return inference_function(eval_model)


def _score(run, data, **options):
    """What ``evaluate(eval_model, data, ...)`` returns, scored through the shared ``run``."""
    return evaluate_runner(run, 1001, data, EvalOptions(**{"show_progress": False, **options}))


def _sample(n: int) -> list[Path]:
    return sorted(SAMPLE.iterdir())[:n]


def _labels_of(paths: list[Path]) -> list[int]:
    truth, to_label = read_ground_truth(GROUND_TRUTH), synset_to_label()
    return [to_label[truth[int(p.stem.split("_")[-1]) - 1]] for p in paths]


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as f:
        return {
            Path(r["id"].split("#")[0]).name if "#" not in r["id"] else r["id"]: r for r in csv.DictReader(f)
        }


# ----------------------------------------------------------------------------- preprocessing


GOLDEN_NAMES = [  # the six files of tests/data/preprocess (listed, so none can go missing)
    "n01440764_tench.JPEG",
    "n01871265_tusker.JPEG",
    "n02096051_Airedale.JPEG",
    "n03272010_electric_guitar.JPEG",
    "n03337140_file.JPEG",
    "n04238763_slide_rule.JPEG",
]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_preprocessing_matches_slim_golden(name):
    golden = np.load(GOLDEN / "slim_eval_preprocess.npz")[name]
    ours = load_for_eval(str(GOLDEN / name))
    assert ours.shape == (224, 224, 3)
    assert np.abs(ours - golden).max() <= 1e-5


def test_tf2_resize_would_not_match():
    """The golden test can fail: TF2's default resize differs from slim's visibly."""
    import tensorflow as tf

    from inception_v2.data.preprocessing import decode_image

    name = "n01440764_tench.JPEG"
    image = tf.image.convert_image_dtype(decode_image(tf.io.read_file(str(GOLDEN / name))), tf.float32)
    tf2 = (tf.image.resize(tf.image.central_crop(image, 0.875), (224, 224)) - 0.5) * 2
    golden = np.load(GOLDEN / "slim_eval_preprocess.npz")[name]
    assert np.abs(tf2.numpy() - golden).max() > 1e-2


def test_preprocess_input_scales_like_slim():
    x = np.array([[[[0, 127.5, 255]]]], np.float32)
    np.testing.assert_allclose(np.asarray(preprocess_input(x)), [[[[-1, 0, 1]]]], atol=1e-6)


def test_png_and_gif_named_jpg_decode_by_content(tmp_path):
    from PIL import Image

    source = _sample(1)[0]
    rgb = Image.open(source).convert("RGB")
    rgb.save(tmp_path / "really_png.jpg", format="PNG")
    png = load_for_eval(str(tmp_path / "really_png.jpg"))
    rgb.save(tmp_path / "true.png", format="PNG")
    np.testing.assert_array_equal(png, load_for_eval(str(tmp_path / "true.png")))
    rgb.convert("P").save(tmp_path / "really_gif.jpg", format="GIF")
    assert load_for_eval(str(tmp_path / "really_gif.jpg")).shape == (224, 224, 3)
    hymenoptera_gif = next(
        p for p in (example_data_path() / "train" / "ants").iterdir() if p.read_bytes()[:3] == b"GIF"
    )
    assert load_for_eval(str(hymenoptera_gif)).shape == (224, 224, 3)


# ----------------------------------------------------------------------------- metrics


def test_top_k_on_hand_made_logits():
    logits = np.array(
        [
            [0.1, 0.9, 0.3, 0.2, 0.0, 0.5, 0.4],  # label 1 is the best
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],  # label 0 is the worst
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # all tied: in top-5 (tf.nn.in_top_k), argmax -> 0
            [0.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5],  # label 6 ties with the 5th best: counts
        ],
        np.float32,
    )
    labels = np.array([1, 0, 3, 6])
    np.testing.assert_array_equal(top1_correct(logits, labels), [True, False, False, False])
    np.testing.assert_array_equal(in_top_k(logits, labels, 5), [True, False, True, True])
    np.testing.assert_array_equal(in_top_k(logits, labels, 1), [True, False, True, False])
    import tensorflow as tf

    np.testing.assert_array_equal(in_top_k(logits, labels, 5), tf.math.in_top_k(labels, logits, 5).numpy())


def test_decode_predictions():
    probs = np.zeros((2, 1001), np.float32)
    probs[0, 0], probs[0, 1] = 0.7, 0.2
    probs[1, 1000] = 1.0
    decoded = decode_predictions(probs, top=2)
    assert decoded[0][0] == ("background", "background", pytest.approx(0.7))
    assert decoded[0][1][:2] == ("n01440764", "tench, Tinca tinca")
    assert decoded[1][0][0] == "n15075141"
    assert decode_predictions(probs[:, 1:], top=1)[1][0][0] == "n15075141"
    with pytest.raises(ValueError, match="1001"):
        decode_predictions(np.zeros((1, 10)))


# ----------------------------------------------------------------------------- against slim


def _write_slim_tfrecord(path: Path, images: list[Path], labels: list[int], drop_key: str | None = None):
    """An ImageNet shard with the keys of slim's build_imagenet_data.py."""
    import tensorflow as tf

    def feature(value):
        if isinstance(value, int):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    synsets = {v: k for k, v in synset_to_label().items()}
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, labels, strict=True):
            features = {
                "image/encoded": feature(image.read_bytes()),
                "image/format": feature(b"JPEG"),
                "image/class/label": feature(label),
                "image/class/synset": feature(synsets[label].encode()),
                "image/filename": feature(image.name.encode()),
                "image/height": feature(227),
                "image/width": feature(227),
            }
            features.pop(drop_key, None)
            writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def _slim_logits(checkpoint: str, files: list[Path]) -> np.ndarray:
    """slim's preprocess_for_eval and slim's graph, in one TF1 session, image by image."""
    import tensorflow as tf

    from inception_v2.weights.slim_reference import import_slim

    tf_slim, net = import_slim()
    graph = tf.Graph()
    with graph.as_default():
        encoded = tf.compat.v1.placeholder(tf.string, ())
        image = tf.image.decode_jpeg(encoded, channels=3)
        image = tf.image.convert_image_dtype(image, dtype=tf.float32)
        image = tf.image.central_crop(image, central_fraction=0.875)
        image = tf.compat.v1.image.resize_bilinear(tf.expand_dims(image, 0), [224, 224], align_corners=False)
        image = tf.multiply(tf.subtract(image, 0.5), 2.0)
        with tf_slim.arg_scope(net.inception_v2_arg_scope()):
            logits, _ = net.inception_v2(image, num_classes=1001, is_training=False)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, checkpoint)
            return np.concatenate([sess.run(logits, {encoded: f.read_bytes()}) for f in files])


@pytest.mark.slow
def test_tfrecord_eval_equals_slim_graph_per_image(slim_checkpoints, eval_model, tmp_path):
    files = _sample(24)
    labels = _labels_of(files)
    _write_slim_tfrecord(tmp_path / "validation-00000-of-00001", files, labels)
    csv_path = tmp_path / "pred.csv"
    result = evaluate(
        eval_model, tfrecords(tmp_path), batch_size=10, predictions_csv=csv_path, show_progress=False
    )
    assert result.count == 24 and result.skipped == []

    reference = _slim_logits(slim_checkpoints.path(version="V1"), files)
    rows = list(csv.DictReader(open(csv_path)))
    expected_top5 = np.argsort(-reference, axis=-1, kind="stable")[:, :5]
    for row, top5, label in zip(rows, expected_top5, labels, strict=True):
        assert int(row["label_index"]) == label
        assert [int(row[f"top{i}_index"]) for i in range(1, 6)] == top5.tolist(), row["id"]
        # evaluate() finds ImageNet's class names itself, as the command line does
        assert [row[f"top{i}_label"] for i in range(1, 6)] == [class_names(1001)[i] for i in top5], row["id"]
    assert result.top1 == top1_correct(reference, np.array(labels)).mean()
    assert result.top5 == in_top_k(reference, np.array(labels), 5).mean()


@pytest.mark.slow
def test_raw_directory_and_class_folders_agree(eval_run, tmp_path):
    files = _sample(12)
    raw = tmp_path / "raw"
    raw.mkdir()
    folders = tmp_path / "folders"
    synsets = {v: k for k, v in synset_to_label().items()}
    for f, label in zip(files, _labels_of(files), strict=True):
        shutil.copy(f, raw / f.name)
        (folders / synsets[label]).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, folders / synsets[label] / f.name)
    a = _score(eval_run, open_data(raw), batch_size=5, predictions_csv=tmp_path / "a.csv")
    b = _score(eval_run, open_data(folders), batch_size=7, predictions_csv=tmp_path / "b.csv")
    assert open_data(folders).kind == "imagenet-folders"
    assert (a.count, a.top1, a.top5, a.per_class) == (b.count, b.top1, b.top5, b.per_class)
    rows_a, rows_b = _rows(tmp_path / "a.csv"), _rows(tmp_path / "b.csv")
    assert rows_a.keys() == rows_b.keys()
    for key in rows_a:
        assert [rows_a[key][f"top{i}_label"] for i in range(1, 6)] == [
            rows_b[key][f"top{i}_label"] for i in range(1, 6)
        ]


@pytest.mark.slow
def test_labels_offset_for_1000_class_model(slim_checkpoints, tmp_path):
    """A 1000-class model with offset 1 scores as the 1001-class one without background (slim's
    network four times thinner: label spaces do not depend on the width)."""
    from inception_v2.weights.slim_reference import save_slim_variables

    variables = dict(slim_checkpoints.variables(depth_multiplier=0.25))
    w, b = "InceptionV2/Logits/Conv2d_1c_1x1/weights", "InceptionV2/Logits/Conv2d_1c_1x1/biases"
    no_background = {**variables, b: variables[b].copy()}
    no_background[b][0] = -1e4
    thousand = {**variables, w: variables[w][..., 1:], b: variables[b][1:]}
    path_1001 = save_slim_variables(no_background, str(tmp_path / "a" / "m.ckpt"))
    path_1000 = save_slim_variables(thousand, str(tmp_path / "b" / "m.ckpt"))
    data = imagenet_directory(SAMPLE)
    m1001, _, _ = build_from_weights(path_1001, classifier_activation=None)
    m1000, config, _ = build_from_weights(path_1000, classifier_activation=None)
    assert config.classes == 1000
    r1001 = evaluate(m1001, data, limit=20, show_progress=False)
    r1000 = evaluate(m1000, data, limit=20, labels_offset=1, show_progress=False)
    assert (r1001.top1, r1001.top5) == (r1000.top1, r1000.top5)
    last = tmp_path / "folders" / "n15075141"  # slim label 1000: no such class without the offset
    last.mkdir(parents=True)
    shutil.copy(_sample(1)[0], last / "a.JPEG")
    with pytest.raises(DataError, match="labels-offset"):
        evaluate(m1000, open_data(last.parent), labels_offset=0, show_progress=False)
    assert evaluate(m1000, open_data(last.parent), labels_offset=1, show_progress=False).count == 1


def test_cli_eval_default_data_writes_report_csv_plot(converted_1001, tmp_path, capsys):
    report, csv_path, plot = tmp_path / "r.json", tmp_path / "p.csv", tmp_path / "p.png"
    args = [
        "eval",
        "--weights",
        str(converted_1001),
        "--report",
        str(report),
        "--predictions-csv",
        str(csv_path),
        "--plot",
        str(plot),
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "top-1 accuracy" in out and "images evaluated             100" in out
    data = json.loads(report.read_text())
    assert data["count"] == 100 and data["skipped"] == [] and "central_crop(0.875)" in data["preprocessing"]
    assert sum(entry["total"] for entry in data["per_class"].values()) == 100
    # Keyed by synset and named as the bundled synset_words.txt names it, read here line by line
    # (two classes share the name "crane": only the synset tells them apart); index k is the
    # synset's line in the sorted synset list (slim's label k, with background at 0).
    from inception_v2.data.labels import data_path

    words = dict(line.split(" ", 1) for line in data_path("synset_words.txt").read_text().splitlines())
    order = data_path("imagenet_lsvrc_2015_synsets.txt").read_text().split()
    assert len(data["per_class"]) >= 50
    for synset, entry in data["per_class"].items():
        assert entry["synset"] == synset and entry["name"] == words[synset]
        assert entry["index"] == order.index(synset) + 1
    assert all(
        set(e) == {"index", "name", "synset", "correct", "total", "accuracy"}
        for e in data["per_class"].values()
    )
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == 100
    truth, to_label, names = read_ground_truth(GROUND_TRUTH), synset_to_label(), synset_names()
    for row in rows:  # a program can read each class back: index, synset and name
        synset = truth[int(Path(row["id"]).stem.split("_")[-1]) - 1]
        assert (row["label_synset"], int(row["label_index"]), row["label"]) == (
            synset,
            to_label[synset],
            names[synset],
        )
        top1 = int(row["top1_index"])
        assert row["top1_synset"] == class_ids(1001)[top1] and row["top1_label"] == class_names(1001)[top1]
    assert class_ids(1001)[to_label["n02012849"]] != class_ids(1001)[to_label["n03126707"]]
    assert names["n02012849"] == names["n03126707"] == "crane"  # why the synset column exists
    assert data["precision"] == "float32" and re.search(r"\nprecision +float32\n", out)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(args) == 2  # outputs exist: refused without --overwrite
    assert "already exists" in capsys.readouterr().err


def test_cli_predict(converted_1001, capsys):
    image = str(_sample(1)[0])
    assert main(["predict", image, "--weights", str(converted_1001), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out[0]["top"]
    assert len(top) == 5 and top[0]["probability"] >= top[-1]["probability"]
    assert all(t["synset"] in synset_to_label() or t["synset"] == "background" for t in top)
    assert main(["predict", image, "--weights", str(converted_1001)]) == 0
    assert "1. " in capsys.readouterr().out


# ----------------------------------------------------------------------------- bad input


def test_unreadable_images_are_skipped_and_counted_or_fail_with_strict(eval_run, tmp_path):
    files = _sample(6)
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    corrupt = tmp_path / files[2].name
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))  # JPEG header, then nothing
    truncated = tmp_path / files[5].name
    truncated.write_bytes(b"not an image at all")
    result = _score(eval_run, open_data(tmp_path), batch_size=4)
    assert result.count == 4
    assert sorted(Path(s).name for s in result.skipped) == sorted([corrupt.name, truncated.name])
    with pytest.raises(DataError, match=corrupt.name):
        _score(eval_run, open_data(tmp_path), batch_size=4, strict=True)


def test_tfrecord_missing_key(eval_run, tmp_path):
    files = _sample(3)
    _write_slim_tfrecord(
        tmp_path / "validation-00000-of-00001", files, _labels_of(files), drop_key="image/class/label"
    )
    with pytest.raises(DataError, match="lacks image/encoded or image/class/label"):
        _score(eval_run, tfrecords(tmp_path))


def test_empty_directory(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty directory"):
        open_data(tmp_path / "empty")
    assert main(["eval", "--weights", "unused", "--data", str(tmp_path / "empty")]) == 2
    assert "empty directory" in capsys.readouterr().err


def test_ground_truth_of_wrong_length(tmp_path):
    short = tmp_path / "truth.txt"
    short.write_text("\n".join(read_ground_truth(GROUND_TRUTH)[:49_999]))
    with pytest.raises(ValueError, match="49,999 lines, expected 50,000"):
        imagenet_directory(SAMPLE, short)


def test_unknown_synset_folder(tmp_path):
    for name in ("n01440764", "n99999999"):
        (tmp_path / name).mkdir()
        shutil.copy(_sample(1)[0], tmp_path / name / "a.JPEG")
    with pytest.raises(DataError, match="n99999999"):
        class_folders(tmp_path)


def test_named_class_folders_are_not_imagenet(tmp_path):
    for name in ("ants", "bees"):
        (tmp_path / name).mkdir()
        shutil.copy(_sample(1)[0], tmp_path / name / "a.jpg")
    data = open_data(tmp_path)
    assert (data.kind, data.class_names, data.labels) == ("folders", ["ants", "bees"], [0, 1])


def test_label_space_is_the_librarys():
    """What the command line used to decide for itself: offsets and names by head and data."""
    from inception_v2.data.sources import EvalData
    from inception_v2.errors import DataError as DataMistake
    from inception_v2.errors import InvalidArgument
    from inception_v2.evaluation.evaluate import label_space

    imagenet = EvalData("val", "imagenet-directory")
    full, head_1000 = label_space(1001, imagenet), label_space(1000, imagenet)
    assert (full.offset, full.names[0], full.ids[1]) == (0, "background", "n01440764")
    assert (head_1000.offset, len(head_1000.names)) == (1, 1000)
    with pytest.raises(InvalidArgument, match="a 2-class model cannot be scored"):
        label_space(2, imagenet)
    assert label_space(2, imagenet, labels_offset=5).offset == 5
    folders = EvalData("ants_bees", "folders", class_names=["ants", "bees"])
    assert label_space(2, folders).names == ["ants", "bees"]
    with pytest.raises(DataMistake, match="2 class folders, but the model has 3"):
        label_space(3, folders)


@pytest.mark.slow
def test_several_tfrecord_shards_interleaved_skip_nothing(eval_run, tmp_path):
    """ImageNet comes as 128 shards read four at a time (interleaved): an element arriving out
    of shard order is not a skipped one. One undecodable record is still found and named."""
    files = _sample(9)
    labels = _labels_of(files)
    for shard, part in enumerate((slice(0, 3), slice(3, 6), slice(6, 9))):
        _write_slim_tfrecord(tmp_path / f"validation-0000{shard}-of-00003", files[part], labels[part])
    result = _score(eval_run, tfrecords(tmp_path), batch_size=4)
    assert (result.count, result.skipped) == (9, [])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))  # a JPEG header, then nothing
    _write_slim_tfrecord(tmp_path / "validation-00001-of-00003", [files[3], bad, files[5]], labels[3:6])
    result = _score(eval_run, tfrecords(tmp_path), batch_size=4)
    assert result.count == 8 and [s.rsplit("/", 1)[-1] for s in result.skipped] == [
        "validation-00001-of-00003#1"
    ]
    with pytest.raises(DataError, match="validation-00001-of-00003#1: cannot be decoded"):
        _score(eval_run, tfrecords(tmp_path), batch_size=4, strict=True)


def test_tfrecord_ids_come_from_length_prefixes(eval_run, tmp_path):
    """The expected ids are counted without reading the images, and equal what tf.data reads;
    a truncated shard is named before any image is evaluated."""
    import tensorflow as tf

    from inception_v2.data.sources import count_records

    files = _sample(7)
    labels = _labels_of(files)
    for shard, part in enumerate((slice(0, 4), slice(4, 7))):
        _write_slim_tfrecord(tmp_path / f"validation-0000{shard}-of-00002", files[part], labels[part])
    data = tfrecords(tmp_path)
    read = [f"{shard}#{i}" for shard in data.files for i, _ in enumerate(tf.data.TFRecordDataset(shard))]
    assert [count_records(s) for s in data.files] == [4, 3]
    assert data.expected_ids() == read
    assert sorted(data.expected_ids(limit=5)) == sorted(  # the interleaved reading's first five
        [read[0], read[1], read[2], read[4], read[5]]
    )
    shard = Path(data.files[1])
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(DataError, match=f"{shard.name}: truncated TFRecord file"):
        _score(eval_run, tfrecords(tmp_path))


def test_every_streamed_pipeline_runs_without_autotuning(tmp_path):
    """An autotuned tf.data iterator cannot be destroyed before its tuning thread wakes, seconds
    later, more the longer it lived: a loop stopped early would hold the command that long
    (docs/performance.md).
    Every pipeline the library streams, for evaluation and for training, has autotuning off;
    evaluation's still reads every image."""
    import tensorflow as tf

    from inception_v2.data.training import make_dataset, scan_class_folders

    assert tf.data.Dataset.range(3).options().autotune.enabled is not False  # TensorFlow's default
    files = _sample(3)
    _write_slim_tfrecord(tmp_path / "validation-00000-of-00001", files, _labels_of(files))
    ants_and_bees = scan_class_folders(example_data_path() / "val")
    pipelines = {
        "raw images": open_data(None).dataset(2, limit=3),
        "TFRecords": tfrecords(tmp_path).dataset(2),
        "training": make_dataset(ants_and_bees, 2, training=True, image_size=64, repeat=True),
        "validation": make_dataset(ants_and_bees, 2, training=False, image_size=64),
    }
    for name, pipeline in pipelines.items():
        assert pipeline.options().autotune.enabled is False, name
    assert sum(len(b["id"]) for b in pipelines["TFRecords"]) == 3
    assert sum(len(b["id"]) for b in pipelines["raw images"]) == 3
    assert len(tfrecords(tmp_path).expected_ids(limit=2)) == 2
