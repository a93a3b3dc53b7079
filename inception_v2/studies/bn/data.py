"""The BN study's data: scikit-learn's digits or class folders, in memory, split once, and
the batches every variant trains on."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import numpy as np

from inception_v2.data.preprocessing import slim_resize, to_model_range
from inception_v2.data.training import held_out, make_dataset, scan_class_folders
from inception_v2.errors import DataError, MissingExtra
from inception_v2.interrupts import iterate

log = logging.getLogger("inception_v2")


@dataclass
class StudyData:
    """Images in [-1, 1] (NHWC float32) and integer labels, split once by the seed."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    class_names: list[str]
    source: str


def load_digits(image_size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's 1,797 handwritten digits (8x8, bundled with it), RGB in [-1, 1]."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as e:
        raise MissingExtra.named(
            "study", "the default data set, scikit-learn's digits, needs scikit-learn (or pass --data)"
        ) from e
    digits = sklearn_digits()
    images = to_model_range(digits.images[..., np.newaxis].astype(np.float32) / 16.0)
    images = np.repeat(slim_resize(images, image_size, image_size).numpy(), 3, axis=-1)
    return images, digits.target.astype(np.int32), [str(d) for d in range(10)]


def load_class_folders(root: str | os.PathLike, image_size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every image of ``root/<class>/`` at ``image_size`` (slim's eval crop), in memory."""
    folders = scan_class_folders(root)
    if len(folders.class_names) < 2:
        raise DataError(f"{root}: {len(folders.class_names)} class folder; a study needs at least 2 classes")
    for path in folders.unreadable:
        log.warning("skipped (not a readable image): %s", path)
    images, labels = [], []
    for x, y in iterate(make_dataset(folders, 256, training=False, image_size=image_size)):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not images:
        raise DataError(f"{root}: none of the images could be decoded")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32), folders.class_names


def load_study_data(
    data: str | os.PathLike | None, image_size: int, validation_split: float, seed: int
) -> StudyData:
    """The study's images, split per class into training and validation by ``seed``.

    Args:
        data: a folder of class folders, or None for scikit-learn's digits.
        image_size: the side the images are resized to.
        validation_split: the share of each class held out (``data.training.held_out``).
        seed: what the split depends on.

    Returns:
        The images and labels of both splits, the class names and where they came from.

    Raises:
        DataError: fewer than 2 classes, nothing decodable, or too few images to split.
        MissingExtra: the digits without scikit-learn.
    """
    if data is None:
        images, labels, names = load_digits(image_size)
        source = "scikit-learn digits"
    else:
        images, labels, names = load_class_folders(data, image_size)
        source = str(data)
    val = held_out(labels, validation_split, seed)
    if val.all():
        raise DataError(f"{source}: too few images to hold out a validation split and still train")
    return StudyData(images[~val], labels[~val], images[val], labels[val], names, source)


def batch_order(num_images: int, steps: int, batch_size: int, seed: int) -> np.ndarray:
    """The training images of every step, ``(steps, batch_size)``: epochs of fresh permutations.

    The same for every variant (they see the same batches) and a function of the step alone,
    so a resumed study feeds what an uninterrupted one would have.
    """
    rng = np.random.default_rng(seed)
    needed = steps * batch_size
    epochs = [rng.permutation(num_images) for _ in range(math.ceil(needed / num_images))]
    return np.concatenate(epochs)[:needed].reshape(steps, batch_size)
