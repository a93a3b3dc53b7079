"""NLL, ECE and the reliability diagram: a constructed case with a known answer, and eval's
figures against ones computed here, independently, from its per-image predictions CSV on a
ground truth crafted so that accuracy is far from chance (60 % of the images labelled with the
model's own top-1, 40 % with its second choice)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.cli import main
from inception_v2.data.labels import data_path, read_ground_truth
from inception_v2.data.preprocessing import load_for_eval
from inception_v2.evaluation.reliability import Reliability


def test_known_answer():
    # Four images, two confidence bins: (0.6, 0.667] holds 0.65 twice (one right), and
    # (0.933, 1.0] holds 0.95 twice (both right).
    probabilities = np.array([[0.65, 0.35], [0.65, 0.35], [0.95, 0.05], [0.95, 0.05]])
    labels = np.array([0, 1, 0, 0])
    reliability = Reliability()
    reliability.add(probabilities, labels)
    expected_ece = 0.5 * abs(0.5 - 0.65) + 0.5 * abs(1.0 - 0.95)
    assert reliability.ece == pytest.approx(expected_ece)
    expected_nll = -(math.log(0.65) + math.log(0.35) + 2 * math.log(0.95)) / 4
    assert reliability.nll == pytest.approx(expected_nll)
    filled = [row for row in reliability.table() if row["images"]]
    assert [(row["images"], row["accuracy"]) for row in filled] == [(2, 0.5), (2, 1.0)]


@pytest.mark.slow
def test_eval_figures_match_its_predictions(converted_thin, tmp_path, capsys):
    first = tmp_path / "first.csv"
    assert main(["eval", "--weights", str(converted_thin), "--predictions-csv", str(first), "--quiet"]) == 0
    with open(first) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 100
    # The crafted ground truth: the model's top-1 for 60 images, its top-2 for the other 40.
    truth = read_ground_truth(data_path("imagenet_2012_validation_synset_labels.txt"))
    for n, row in enumerate(rows):
        rank = 1 if n < 60 else 2
        number = int(row["id"].rsplit("_", 1)[1].split(".")[0])
        truth[number - 1] = row[f"top{rank}_synset"]
    crafted = tmp_path / "ground_truth.txt"
    crafted.write_text("\n".join(truth) + "\n")
    report_path, plot = tmp_path / "report.json", tmp_path / "reliability.png"
    argv = ["eval", "--weights", str(converted_thin), "--ground-truth", str(crafted), "--quiet"]
    assert main([*argv, "--report", str(report_path), "--plot-calibration", str(plot)]) == 0
    import json

    report = json.loads(report_path.read_text())
    assert report["top1"] == pytest.approx(0.60)
    confidence = np.array([float(row["top1_prob"]) for row in rows])
    correct = np.array([n < 60 for n in range(100)], float)
    expected_ece = sum(
        abs(correct[members].mean() - confidence[members].mean()) * members.sum() / 100
        for k in range(15)
        if (members := (confidence > k / 15) & (confidence <= (k + 1) / 15)).any()
    )
    assert report["ece"] == pytest.approx(expected_ece, abs=1e-5)  # the CSV rounds to 6 digits
    # NLL from the model's own logits (the CSV rounds small probabilities to 0): Keras' predict
    # on slim's preprocessing of each image, a float64 log-softmax in NumPy.
    images = np.stack([load_for_eval(row["id"]) for row in rows])
    logits = InceptionV2(
        weights=str(converted_thin), depth_multiplier=0.25, classifier_activation=None
    ).predict(images, verbose=0)
    logits = logits.astype(np.float64)
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    true = [int(row[f"top{1 if n < 60 else 2}_index"]) for n, row in enumerate(rows)]
    expected_nll = -np.mean(log_softmax[np.arange(100), true])
    assert report["nll"] == pytest.approx(expected_nll, rel=1e-3)
    assert sum(b["images"] for b in report["reliability"]) == 100
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "ECE (15 bins)" in out and "NLL (true class)" in out
