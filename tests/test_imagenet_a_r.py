"""ImageNet-A and -R scored as timm and their authors score them: the argmax over their 200
classes' logits only, on crafted folders of the bundled validation images (nothing downloaded)."""

from __future__ import annotations

import csv
import re
import shutil

import numpy as np
import pytest
from conftest import one_error_line, run_in_process

from inception_v2.data.labels import data_path

pytestmark = pytest.mark.slow  # evaluates a network: not in the quick subset


def _crafted(root, subset_file: str) -> tuple[list, list[str]]:
    """Synset folders of the bundled images whose class is among the subset's 200; the files
    copied and each image's synset, in the folder walk's order."""
    truth = data_path("imagenet_2012_validation_synset_labels.txt").read_text().split()
    subset = set(data_path(subset_file).read_text().split())
    for image in sorted(data_path("imagenet_val_sample").iterdir()):
        synset = truth[int(re.findall(r"\d+", image.name)[-1]) - 1]
        if synset in subset:
            (root / synset).mkdir(parents=True, exist_ok=True)
            shutil.copy(image, root / synset / image.name)
    return sorted(root.iterdir()), sorted(subset)


@pytest.mark.parametrize("name,subset_file", [("imagenet-a", "imagenet_a_synsets.txt"),
                                              ("imagenet-r", "imagenet_r_synsets.txt")])  # fmt: skip
def test_the_argmax_is_over_the_subsets_classes(name, subset_file, live_thin, tmp_path, capsys):
    from inception_v2.data.preprocessing import load_for_eval
    from inception_v2.weights.factory import build_from_weights

    folders, subset = _crafted(tmp_path / name, subset_file)
    assert len(folders) >= 15, "a crafted set of some of its classes"
    out = tmp_path / "p.csv"
    done = run_in_process(
        capsys, "eval", "--weights", live_thin, "--data", tmp_path / name, "--dataset", name,
        "--predictions-csv", out, "--json", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    import json

    report = json.loads(done.stdout)
    assert f"{name}, scored over its 200 classes" in report["data"]
    with open(out, newline="") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    # Independently: the Keras model's logits on slim's preprocessing, restricted to the mask.
    imagenet = data_path("imagenet_lsvrc_2015_synsets.txt").read_text().split()
    columns = np.array([imagenet.index(s) + 1 for s in subset])  # 1001 outputs: background first
    model = build_from_weights(live_thin, classifier_activation=None)[0]
    correct, predicted = 0, []
    for image_id, row in rows.items():
        logits = model.predict(load_for_eval(image_id)[None], verbose=0)[0]
        best = subset[int(np.argmax(logits[columns]))]
        assert row["top1_synset"] == best, image_id
        predicted.append(best)
        correct += best == row["label_synset"]
    assert report["top1"] == pytest.approx(correct / len(rows))
    assert len(set(predicted)) >= 3, "predictions vary"
    # The negative control: the same folder as plain synset folders, scored over 1,000 classes.
    done = run_in_process(capsys, "eval", "--weights", live_thin, "--data", tmp_path / name,
                          "--predictions-csv", tmp_path / "all.csv", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "all.csv", newline="") as f:
        unmasked = [row["top1_synset"] for row in csv.DictReader(f)]
    assert sum(s not in set(subset) for s in unmasked) > len(unmasked) // 2, "1,000-class argmax differs"


def test_a_folder_not_of_the_set_is_one_line(tmp_path, capsys):
    folders, subset = _crafted(tmp_path / "a", "imagenet_a_synsets.txt")
    r_only = sorted(set(data_path("imagenet_r_synsets.txt").read_text().split()) - set(subset))[0]
    (tmp_path / "a" / r_only).mkdir()
    shutil.copy(next(folders[0].iterdir()), tmp_path / "a" / r_only / "x.JPEG")
    done = run_in_process(capsys, "eval", "--weights", "nothing.h5", "--data", tmp_path / "a",
                          "--dataset", "imagenet-a", "--report", tmp_path / "r.json")  # fmt: skip
    one_error_line(done, f"folder(s) {r_only} are not among imagenet-a's 200 classes")
    done = run_in_process(capsys, "eval", "--dataset", "imagenet-r", "--report", tmp_path / "r.json")
    one_error_line(done, "--dataset imagenet-r: give --data")
    assert not (tmp_path / "r.json").exists()
