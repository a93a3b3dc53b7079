"""ImageNetV2's layout (Recht et al. 2019): folders 0..999, each the 0-based index of its class
in sorted-synset order. The bundled images laid out that way must score exactly as in their
raw ILSVRC2012 folder, label for label, for a 1001-class head (slim's background at 0) and a
1000-class one."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from inception_v2.cli import main
from inception_v2.data.labels import data_path, read_ground_truth, synsets
from inception_v2.data.sources import open_data
from inception_v2.errors import DataError


@pytest.fixture
def imagenet_v2(tmp_path):
    truth = read_ground_truth(data_path("imagenet_2012_validation_synset_labels.txt"))
    index = {synset: k for k, synset in enumerate(synsets())}
    root = tmp_path / "imagenetv2-matched-frequency"
    for k in range(1000):
        (root / str(k)).mkdir(parents=True)
    for image in sorted(data_path("imagenet_val_sample").iterdir()):
        number = int(image.stem.rsplit("_", 1)[1])
        shutil.copy(image, root / str(index[truth[number - 1]]) / image.name)
    return root


def _labels(csv_path) -> dict[str, str]:
    with open(csv_path) as f:
        return {Path(row["id"]).name: row["label_synset"] for row in csv.DictReader(f)}


@pytest.mark.slow
@pytest.mark.parametrize("classes", [1001, 1000])
def test_imagenet_v2_folders_score_as_the_raw_images(
    imagenet_v2, slim_checkpoints, tmp_path, capsys, classes
):
    from inception_v2 import convert_checkpoint

    weights = tmp_path / f"c{classes}.weights.h5"
    convert_checkpoint(slim_checkpoints.path(num_classes=classes, depth_multiplier=0.25), weights)
    data = open_data(imagenet_v2)
    assert data.kind == "imagenet-v2" and "ImageNetV2 layout" in data.description
    raw, v2 = tmp_path / "raw.csv", tmp_path / "v2.csv"
    common = ["eval", "--weights", str(weights), "--quiet", "--json"]
    assert main([*common, "--predictions-csv", str(raw)]) == 0
    raw_report = json.loads(capsys.readouterr().out)
    assert main([*common, "--data", str(imagenet_v2), "--predictions-csv", str(v2)]) == 0
    v2_report = json.loads(capsys.readouterr().out)
    assert _labels(v2) == _labels(raw) and len(_labels(v2)) == 100
    assert (v2_report["top1"], v2_report["top5"]) == (raw_report["top1"], raw_report["top5"])
    assert "ImageNetV2 layout" in v2_report["data"]


def test_imagenet_v2_layout_problems_are_one_line(imagenet_v2):
    shutil.rmtree(imagenet_v2 / "17")
    with pytest.raises(DataError, match="class folders 0..999; missing 17"):
        open_data(imagenet_v2)
    (imagenet_v2 / "17").mkdir()
    (imagenet_v2 / "cats").mkdir()
    with pytest.raises(DataError, match="numbered class folders \\(ImageNetV2\\) mixed with others: cats"):
        open_data(imagenet_v2)
