"""``export --verify``: the written file, on its own runtime, against the Keras model.

The file is loaded by the runtime that will serve it (``inference.served``: TensorFlow for the
SavedModel, onnxruntime, LiteRT's interpreter, OpenVINO) and fed as a client feeds it - the
SavedModel the encoded files, the others each file decoded at its own size - so its own
preprocessing is part of what is compared. The images: the 100 ImageNet validation images
bundled with the package, the 12 photos of the bundled ants/bees validation set and its one
GIF. The reference is the Keras model on the project's preprocessing
(``data.preprocessing.preprocess_for_eval``), in float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inception_v2.data.example_data import example_data_path
from inception_v2.data.labels import data_path
from inception_v2.data.sources import DataKind, EvalData, image_files
from inception_v2.inference.runner import Runner
from inception_v2.inference.served import is_saved_model, load_served

#: A float32 file may differ from the Keras model by this share of the largest probability.
TOLERANCE = 1e-4
BATCH = 16


@dataclass(frozen=True)
class Agreement:
    """How an exported file's probabilities compare with the Keras model's.

    Attributes:
        runtime: what ran the file.
        images: how many images both computed.
        max_abs_diff: the largest |difference| of any probability.
        largest_probability: the largest probability the Keras model gave (the scale).
        top1_agree, top5_agree: images whose top-1 class (top-5 set) is the same.
        fed: what the file was fed.
        distinct_top1: how many classes the Keras model's top-1 takes over the images (one
            class for every image: the agreement says little).
    """

    runtime: str
    images: int
    max_abs_diff: float
    largest_probability: float
    top1_agree: int
    top5_agree: int
    fed: str
    distinct_top1: int

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= TOLERANCE * self.largest_probability

    def line(self, judged: bool = True) -> str:
        """One line; ``judged``: with the allowance the difference is held to."""
        allowed = (
            f" (allowed {TOLERANCE:g} of the largest, {TOLERANCE * self.largest_probability:.2e})"
            if judged
            else ""
        )
        return (
            f"verify: {self.images} images ({self.fed}) on {self.runtime}: max |difference of "
            f"probabilities| {self.max_abs_diff:.2e}{allowed}; top-1 agrees on "
            f"{self.top1_agree}/{self.images} ({self.distinct_top1} distinct classes), "
            f"top-5 on {self.top5_agree}/{self.images}"
        )


def verification_images() -> list[Path]:
    """The bundled ImageNet validation images, the ants/bees validation photos and its GIF."""
    photos = example_data_path()
    return image_files(
        [data_path("imagenet_val_sample"), photos / "val", photos / "train" / "ants" / "imageNotFound.gif"],
        recursive=True,
    )


def verify_export(serving, path: str | os.PathLike) -> Agreement:
    """Run the served file at ``path`` on its own runtime and compare it with ``serving`` (the
    ``keras.Model`` it was exported from, probabilities out).

    Returns:
        The ``Agreement`` (``passed`` says whether it is within ``TOLERANCE``).

    Raises:
        CheckpointError: the written file does not load.
    """
    fed = "encoded files" if is_saved_model(path) else "decoded uint8, each at its own size"
    return compare_with_keras(serving, load_served(path).runner, fed)


def compare_with_keras(serving, runner: Runner, fed: str) -> Agreement:
    """``runner`` (encoded images in, log-probabilities out: a served or saved int8 model) against
    ``serving`` (the Keras model, probabilities out) on ``verification_images``."""
    files = [str(f) for f in verification_images()]
    data = EvalData("verification images", DataKind.FILES, files=files, labels=[0] * len(files))
    data.image_size = serving.input.shape[1] or data.image_size
    ours, theirs = [], []
    for encoded, images in zip(data.batches(BATCH, encoded=True), data.batches(BATCH), strict=True):
        assert encoded["id"].numpy().tolist() == images["id"].numpy().tolist()  # the same files dropped
        ours.append(np.asarray(serving(images["image"], training=False)))
        theirs.append(np.exp(runner(encoded["image"].numpy())))
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    top5_ours, top5_theirs = (np.sort(np.argsort(-p, axis=1)[:, :5], axis=1) for p in (ours, theirs))
    return Agreement(
        runtime=runner.engine,
        images=len(ours),
        max_abs_diff=float(np.abs(ours - theirs).max()),
        largest_probability=float(ours.max()),
        top1_agree=int((ours.argmax(1) == theirs.argmax(1)).sum()),
        top5_agree=int((top5_ours == top5_theirs).all(axis=1).sum()),
        fed=fed,
        distinct_top1=len(set(ours.argmax(1).tolist())),
    )
