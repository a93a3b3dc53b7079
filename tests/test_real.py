"""ReaL top-1 (Beyer et al. 2020) against a figure computed here from eval's own predictions
CSV, on a ReaL file crafted so that an off-by-one cannot pass: of the 100 bundled validation
images, 60 get the model's own top-1 as their label, 30 its second choice, 10 no label."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from inception_v2.cli import main
from inception_v2.data.labels import data_path, read_real_labels
from inception_v2.errors import DataError


def _crafted(predictions_csv: Path, shift: int, path: Path) -> tuple[float, int]:
    """Write the crafted ReaL file; return the ReaL top-1 it implies and the images it covers.
    ``shift`` turns the CSV's logit index into ReaL's 0-based index (-1 for slim's 1001 classes)."""
    lists = [[] for _ in range(50_000)]
    with open(predictions_csv) as f:
        rows = [
            r for r in csv.DictReader(f) if int(r["top1_index"]) + shift >= 0 <= int(r["top2_index"]) + shift
        ]
    assert len(rows) >= 90
    for n, row in enumerate(rows[:100]):
        number = int(Path(row["id"]).stem.rsplit("_", 1)[1])
        if n % 10 < 6:
            lists[number - 1] = [int(row["top1_index"]) + shift]
        elif n % 10 < 9:
            lists[number - 1] = [
                int(row["top2_index"]) + shift,
                999 if int(row["top1_index"]) + shift != 999 else 998,
            ]
    path.write_text(json.dumps(lists))
    counted = [n for n in range(min(len(rows), 100)) if n % 10 < 9]
    return sum(1 for n in counted if n % 10 < 6) / len(counted), len(counted)


@pytest.mark.slow
@pytest.mark.parametrize("classes,shift", [(1001, -1), (1000, 0)])
def test_real_top1_matches_the_predictions(slim_checkpoints, tmp_path, capsys, classes, shift):
    from inception_v2 import convert_checkpoint

    weights = tmp_path / f"c{classes}.weights.h5"
    convert_checkpoint(slim_checkpoints.path(num_classes=classes, depth_multiplier=0.25), weights)
    first = tmp_path / "first.csv"
    assert main(["eval", "--weights", str(weights), "--predictions-csv", str(first), "--quiet"]) == 0
    expected, covered = _crafted(first, shift, tmp_path / "real.json")
    capsys.readouterr()
    argv = [
        "eval",
        "--weights",
        str(weights),
        "--real-labels",
        str(tmp_path / "real.json"),
        "--quiet",
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["real_top1"] == pytest.approx(expected) and report["real_images"] == covered
    assert abs(report["real_top1"] - 0.6667) < 0.01, "far from chance: an off-by-one would read ~0"


def test_bundled_real_labels_are_the_published_ones():
    lists = read_real_labels()
    assert len(lists) == 50_000
    assert sum(1 for labels in lists if not labels) == 3_163
    assert sum(1 for labels in lists if len(labels) > 1) == 7_443


def test_bad_real_labels_are_one_line(tmp_path, capsys):
    short = tmp_path / "short.json"
    short.write_text(json.dumps([[1]] * 10))
    with pytest.raises(DataError, match="10 entries, expected a list of 50,000 lists"):
        read_real_labels(short)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([[1]] * 49_999 + [[1000]]))
    with pytest.raises(DataError, match="entry 50000 is \\[1000\\], not a list of class indices"):
        read_real_labels(wrong)
    assert main(["eval", "--real-labels", str(short)]) == 2
    assert "short.json: 10 entries" in capsys.readouterr().err


@pytest.mark.slow
def test_real_on_other_data_says_so_and_carries_on(converted_thin, tmp_path, capsys):
    """ImageNetV2-like folders whose files are not ILSVRC2012 validation images: a note, no figure."""
    root = tmp_path / "v2"
    for k in range(1000):
        (root / str(k)).mkdir(parents=True)
    for k, image in enumerate(sorted(data_path("imagenet_val_sample").iterdir())[:3]):
        (root / str(k) / f"{k}.jpeg").write_bytes(image.read_bytes())
    bundled = str(data_path("imagenet_real_labels.json"))
    argv = ["eval", "--weights", str(converted_thin), "--data", str(root), "--real-labels", bundled]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "ReaL top-1" not in captured.out and "images evaluated             3" in captured.out
    assert "holds no ILSVRC2012 validation images; ReaL top-1 not reported" in captured.err


@pytest.mark.slow
def test_real_from_tfrecords_by_their_filenames(converted_thin, tmp_path):
    """slim's TFRecords name each image in ``image/filename``: ReaL finds it there."""
    from test_eval import _labels_of, _sample, _write_slim_tfrecord

    from inception_v2 import InceptionV2
    from inception_v2.data.sources import tfrecords
    from inception_v2.evaluation.evaluate import evaluate

    files = _sample(20)
    _write_slim_tfrecord(tmp_path / "validation-00000-of-00001", files, _labels_of(files))
    model = InceptionV2(weights=str(converted_thin), depth_multiplier=0.25, classifier_activation=None)
    first = tmp_path / "first.csv"
    evaluate(model, tfrecords(tmp_path), batch_size=8, predictions_csv=first, show_progress=False)
    with open(first) as f:
        predicted = [int(r["top1_index"]) for r in csv.DictReader(f)]  # in the shard's order = files
    lists = [[] for _ in range(50_000)]
    for n, (image, guess) in enumerate(zip(files, predicted, strict=True)):
        number = int(image.stem.rsplit("_", 1)[1])
        lists[number - 1] = [guess - 1] if n < 15 else [(guess + 500) % 1000]  # 15 right, 5 wrong
    result = evaluate(model, tfrecords(tmp_path), batch_size=8, show_progress=False, real_labels=lists)
    assert (result.real_top1, result.real_images) == (0.75, 20)
