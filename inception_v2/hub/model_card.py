"""The model card (README.md) of a KerasHub preset: what it is, where its weights came from
(with their SHA-384), what slim published for them, the license, how the conversion was checked."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from inception_v2.data.labels import IMAGENET_HEADS, labels_for
from inception_v2.model.architecture import PRETRAINED
from inception_v2.weights import download
from inception_v2.weights.convert import Conversion
from inception_v2.weights.download import sha384_of
from inception_v2.weights.loading import resolve


def model_card(source: str | os.PathLike, result: Conversion, kind: str) -> str:
    """A preset's README.md: what it is, where its weights came from, how it was checked.

    Args:
        source: what was converted (``"imagenet"`` for slim's official release).
        result: the conversion (its configuration, assignment and any comparison with slim).
        kind: ``"classifier"`` or ``"backbone"``.

    Returns:
        The Markdown text.
    """
    official = str(source) == "imagenet"
    path = resolve(source)
    lines = [
        f"# Inception V2 (BN-Inception), KerasHub {kind} preset",
        "",
        "TF-slim's `inception_v2` network (Ioffe & Szegedy, 2015, *Batch Normalization*) in Keras 3,",
        "written by the `inception_v2` package (`inception-v2 convert SRC DST --preset`). Load it",
        "after `import inception_v2`, which registers the classes with Keras:",
        "",
        "```python",
        "import inception_v2, keras_hub",
        'classifier = keras_hub.models.ImageClassifier.from_preset("PATH")  # raw images in',
        'backbone = keras_hub.models.Backbone.from_preset("PATH")  # features: backbone.pyramid_outputs',
        'new_head = keras_hub.models.ImageClassifier.from_preset("PATH", num_classes=5)  # to fine-tune',
        "```",
        "",
        "## Weights",
        "",
        f"- source: `{'slim official checkpoint ' + PRETRAINED.checkpoint if official else source}`",
        f"- {_digest_line(path) if not official else _release_digest_line()}",
        f"- network: `{json.dumps(asdict(result.config))}`",
        f"- variables: {result.load.assigned} ({result.load.values:,} values)",
    ]
    classes = result.config.classes
    if classes is not None and classes not in IMAGENET_HEADS:  # a fine-tuned model's names, if known
        lines.append(f"- classes (output index order): {', '.join(labels_for(path, classes)[1])}")
    if official:
        lines.append(
            f"- accuracy published by slim for these weights (ImageNet validation, 50,000 images): "
            f"{100 * PRETRAINED.top1:.1f} % top-1, {100 * PRETRAINED.top5:.1f} % top-5"
        )
    else:
        lines.append(
            f"- accuracy: not measured here; slim's published {100 * PRETRAINED.top1:.1f} % top-1 holds "
            "only for slim's official checkpoint"
        )
    lines += ["", "## How it was checked", ""]
    if result.max_abs_diff:
        worst = max(
            result.max_abs_diff, key=lambda k: result.max_abs_diff[k] / max(1.0, result.max_abs_reference[k])
        )
        lines.append(
            f"Compared with tf_slim's own graph restored from the same source, every end point: "
            f"largest relative difference at {worst}, {result.max_abs_diff[worst]:.3g} "
            f"(max |slim| {result.max_abs_reference[worst]:.3g})."
        )
    else:
        lines.append(
            "Every variable was assigned by name and shape (none missing, none of another shape); "
            "not compared with slim's graph at conversion (`--verify` does)."
        )
    lines += [
        "",
        "## Preprocessing",
        "",
        f"slim's eval preprocessing: RGB 0-255 scaled to [0, 1], central crop {PRETRAINED.crop_fraction}, "
        f"bilinear resize (TF1 semantics) to {PRETRAINED.image_size}x{PRETRAINED.image_size}, "
        "then [-1, 1]. Class 0 of the 1001 ImageNet outputs is background.",
        "",
        "## License",
        "",
        "Apache License 2.0, as TF-slim's models and their released checkpoints.",
        "",
    ]
    return "\n".join(lines)


def _release_digest_line() -> str:
    release = download.IMAGENET_CHECKPOINT
    return f"SHA-384 of `{release.filename}`, checked when it was downloaded: `{release.sha384}`"


def _digest_line(path: Path) -> str:
    if path.is_file():
        return f"SHA-384 of `{path.name}`: `{sha384_of(path)}`"
    files = sorted(p for p in path.parent.glob(path.name + ".*") if p.is_file())
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
    digests = ", ".join(f"`{p.name}` `{sha384_of(p)}`" for p in files)
    return f"SHA-384 of the checkpoint's files: {digests}"
