"""How far a classifier's confidence can be trusted: negative log-likelihood, expected
calibration error (Guo et al. 2017: 15 equal-width bins over top-1 confidence) and the
reliability diagram, accumulated a batch at a time as evaluation streams.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inception_v2.files import save_figure

BINS = 15


@dataclass
class Reliability:
    """Running sums per confidence bin, and the log-likelihood of the true classes."""

    bins: int = BINS
    count: np.ndarray = field(default=None)  # images per bin
    confidence: np.ndarray = field(default=None)  # sum of top-1 confidence per bin
    correct: np.ndarray = field(default=None)  # top-1 hits per bin
    log_likelihood: float = 0.0
    images: int = 0

    def __post_init__(self):
        for name in ("count", "confidence", "correct"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.bins))

    def add(self, probabilities: np.ndarray, labels: np.ndarray) -> None:
        """Count one batch: ``probabilities`` (N, classes; ``labels.softmax`` of the logits,
        float64) and the true class indices (N,)."""
        top = probabilities.max(-1)
        hit = probabilities.argmax(-1) == labels
        # Bins (k/B, (k+1)/B], as Guo et al.; a confidence of exactly 0 cannot occur.
        which = np.clip(np.ceil(top * self.bins).astype(int) - 1, 0, self.bins - 1)
        np.add.at(self.count, which, 1)
        np.add.at(self.confidence, which, top)
        np.add.at(self.correct, which, hit)
        true = probabilities[np.arange(len(labels)), labels]
        self.log_likelihood += float(np.log(np.maximum(true, np.finfo(np.float64).tiny)).sum())
        self.images += len(labels)

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood of the true class (nats)."""
        return -self.log_likelihood / self.images

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of (share of images) x |accuracy - confidence|."""
        filled = self.count > 0
        gap = np.abs(self.correct[filled] - self.confidence[filled])  # per-bin sums: n |acc - conf|
        return float(gap.sum() / self.images)

    def table(self) -> list[dict]:
        """Per bin: its range, image count, mean confidence and accuracy (None when empty)."""
        rows = []
        for k in range(self.bins):
            n = int(self.count[k])
            rows.append(
                {
                    "from": k / self.bins,
                    "to": (k + 1) / self.bins,
                    "images": n,
                    "confidence": float(self.confidence[k] / n) if n else None,
                    "accuracy": float(self.correct[k] / n) if n else None,
                }
            )
        return rows


def plot_reliability(
    reliability: Reliability, path: str | os.PathLike, title: str, overwrite: bool = False
) -> Path:
    """The reliability diagram: accuracy per confidence bin against the diagonal of perfect
    calibration, the gap shaded, and how many images each bin holds below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = reliability.table()
    width = 1.0 / reliability.bins
    centres = [(r["from"] + r["to"]) / 2 for r in rows]
    accuracy = [r["accuracy"] or 0.0 for r in rows]
    confidence = [r["confidence"] or 0.0 for r in rows]  # an empty bin gets no bar at all
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6, 7), dpi=100, height_ratios=(3, 1), sharex=True, layout="constrained"
    )
    top.bar(centres, accuracy, width=width, edgecolor="black", color="#4c72b0", label="accuracy")
    top.bar(
        centres,
        [c - a if c else 0.0 for c, a in zip(confidence, accuracy, strict=True)],
        bottom=accuracy,
        width=width,
        color="#dd8452",
        alpha=0.5,
        edgecolor="#dd8452",
        label="gap to the mean confidence",
    )
    top.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    top.set_ylabel("top-1 accuracy in the bin")
    top.set_ylim(0, 1)
    summary = f"ECE {100 * reliability.ece:.2f} %, NLL {reliability.nll:.3f} ({reliability.images} images)"
    top.set_title(textwrap.fill(title, 70) + "\n" + summary, fontsize=10)
    top.legend(loc="upper left")
    bottom.bar(centres, [r["images"] for r in rows], width=width, color="grey", edgecolor="black")
    bottom.set_xlabel(f"top-1 confidence ({reliability.bins} equal-width bins)")
    bottom.set_ylabel("images")
    bottom.set_xlim(0, 1)
    return save_figure(fig, path, overwrite=overwrite)
