"""Calibration images for int8: what NNCF's post-training quantization measures activation
ranges on, preprocessed exactly as evaluation preprocesses (slim's ``preprocess_for_eval``).

The default is the 100 ImageNet validation images bundled with the package; a folder of image
files (searched recursively: class folders work) gives others. Files that are not images are
skipped and counted (``data.sources.split_decodable``: truncated images too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inception_v2.data.labels import data_path
from inception_v2.data.preprocessing import DEFAULT_SIZE
from inception_v2.data.sources import DataKind, EvalData, split_decodable
from inception_v2.errors import DataError, InvalidArgument, MissingFile

#: NNCF's default ``subset_size``: more images than this change its ranges little.
MAX_IMAGES = 300
BUNDLED = "imagenet_val_sample"


@dataclass
class CalibrationSet:
    """Preprocessed images (NHWC float32 in [-1, 1]) and where they came from."""

    images: np.ndarray
    source: str
    skipped: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the images' files, in order

    def pixels(self) -> list[np.ndarray]:
        """Each file decoded (uint8 RGB at its own size), as a client feeds a served model."""
        import tensorflow as tf

        from inception_v2.data.preprocessing import decode_image

        return [decode_image(tf.io.read_file(str(f))).numpy() for f in self.files]

    def describe(self) -> str:
        """One line for reports: how many images, from where, how many files were skipped."""
        skipped = f", {len(self.skipped)} unreadable file(s) skipped" if self.skipped else ""
        return f"{len(self.images)} images from {self.source}{skipped}"


def calibration_images(
    source: str | os.PathLike | None = None, count: int | None = None, image_size: int = DEFAULT_SIZE
) -> CalibrationSet:
    """The calibration set: ``count`` images of ``source`` (all of them up to ``MAX_IMAGES``).

    Args:
        source: a folder of image files (sub-folders searched), or None for the 100 bundled
            ImageNet validation images.
        count: how many to use (the first in sorted order); None: all, at most ``MAX_IMAGES``.
        image_size: the network's input size.

    Returns:
        The images and their description.

    Raises:
        MissingFile: ``source`` does not exist.
        DataError: ``source`` is not a folder, holds no image, or fewer images than ``count``.
        InvalidArgument: ``count`` below 1.
    """
    if count is not None and count < 1:
        raise InvalidArgument(f"calibration needs at least 1 image, {count} asked")
    folder = data_path(BUNDLED) if source is None else Path(source)
    if not folder.exists():
        raise MissingFile(f"{folder}: no such calibration folder")
    if not folder.is_dir():
        raise DataError(f"{folder}: calibration wants a folder of image files")
    shown = "the 100 bundled ImageNet validation images" if source is None else str(folder)
    every = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    files, skipped = split_decodable(every)  # by their content, whatever the name
    if not files:
        raise DataError(f"{folder}: no image files to calibrate on ({len(skipped)} other files)")
    wanted = min(count or MAX_IMAGES, len(files))
    if count is not None and len(files) < count:
        raise DataError(f"{folder}: {len(files)} image files, {count} asked for calibration")
    data = EvalData(shown, DataKind.FILES, files=files[:wanted], labels=[0] * wanted, image_size=image_size)
    images = np.concatenate([batch["image"].numpy() for batch in data.batches(64)])
    return CalibrationSet(images, shown, skipped, [str(f) for f in files[:wanted]])
