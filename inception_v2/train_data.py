"""Class-folder training data with slim's ``preprocess_for_train`` augmentation.

Augmentation follows tensorflow/models research/slim ``inception_preprocessing``: a
distorted bounding-box crop (min object covered 0.1, aspect 3/4..4/3, area 5..100 %),
bilinear resize, random left-right flip, optional colour distortion (fast mode:
brightness then saturation), then ``(x - 0.5) * 2``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from inception_v2.data import is_image_file, is_image_name, list_class_folders, without_autotuning
from inception_v2.errors import DataError, InvalidArgument
from inception_v2.preprocessing import (
    DEFAULT_SIZE,
    decode_image,
    preprocess_for_eval,
    slim_resize,
    to_model_range,
)


@dataclass
class ClassFolders:
    """Files and labels of a class-per-folder split; ``unreadable`` lists skipped files."""

    root: str
    class_names: list[str]
    files: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def scan_class_folders(root: str | os.PathLike, class_names: list[str] | None = None) -> ClassFolders:
    """Every image under ``root/<class>/`` (``data.list_class_folders``), its content checked:
    a file not named like an image, or not starting like one, is listed as unreadable."""
    found, members = list_class_folders(root)
    if class_names is not None and found != class_names:
        raise DataError(f"{root}: class folders {found} differ from the training classes {class_names}")
    data = ClassFolders(str(root), found)
    for label, paths in enumerate(members):
        for path in paths:
            if is_image_name(path) and is_image_file(path):
                data.files.append(str(path))
                data.labels.append(label)
            else:
                data.unreadable.append(str(path))
    if not data.files:
        raise DataError(f"{root}: the class folders hold no readable images")
    return data


def held_out(labels, fraction: float, seed: int = 0):
    """The one per-class split of the package (fine-tuning and the BN study): which examples
    are held out for validation, a boolean array. In each class a fraction of its members (at
    least one), drawn by a permutation from ``seed``: the same labels and seed always give the
    same split.

    Raises:
        InvalidArgument: ``fraction`` not in (0, 1).
    """
    import numpy as np

    if not 0.0 < fraction < 1.0:
        raise InvalidArgument(f"validation fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    val = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        val[members[: max(1, round(len(members) * fraction))]] = True
    return val


def split(data: ClassFolders, validation_fraction: float, seed: int = 0) -> tuple[ClassFolders, ClassFolders]:
    """A reproducible per-class split of one folder tree into train and validation (``held_out``)."""
    val_mask = held_out(data.labels, validation_fraction, seed)
    train = ClassFolders(data.root, data.class_names, unreadable=list(data.unreadable))
    val = ClassFolders(data.root, data.class_names)
    for path, label, is_val in zip(data.files, data.labels, val_mask, strict=True):
        part = val if is_val else train
        part.files.append(path)
        part.labels.append(label)
    return train, val


def preprocess_for_train(
    image, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE, color_distortion: bool = True, seed=None
):
    """slim's ``preprocess_for_train`` (fast mode) on one decoded image."""
    import tensorflow as tf

    image = tf.image.convert_image_dtype(image, tf.float32)
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        min_object_covered=0.1,
        aspect_ratio_range=(0.75, 1.33),
        area_range=(0.05, 1.0),
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
        seed=seed or 0,
    )
    image = slim_resize(tf.slice(image, begin, size), height, width)
    image = tf.image.random_flip_left_right(image)
    if color_distortion:
        image = _distort_color(image)
    return to_model_range(image)


def _distort_color(image):
    """slim's fast-mode ``distort_color``: brightness, then saturation, then clip.

    (slim draws the ordering from ``num_distort_cases = 1`` in fast mode: always this one.)
    """
    import tensorflow as tf

    image = tf.image.random_brightness(image, max_delta=32.0 / 255.0)
    image = tf.image.random_saturation(image, lower=0.5, upper=1.5)
    return tf.clip_by_value(image, 0.0, 1.0)


def make_dataset(
    data: ClassFolders,
    batch_size: int,
    training: bool,
    image_size: int = DEFAULT_SIZE,
    color_distortion: bool = True,
    seed: int = 0,
    repeat: bool = False,
):
    """A batched tf.data pipeline of (image, label): augmented and shuffled for training."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    ds = without_autotuning(tf.data.Dataset.from_tensor_slices((data.files, data.labels)))
    if training:
        ds = ds.shuffle(len(data.files), seed=seed, reshuffle_each_iteration=True)

    def load(path, label):
        image = decode_image(tf.io.read_file(path))
        if training:
            image = preprocess_for_train(image, image_size, image_size, color_distortion)
        else:
            image = preprocess_for_eval(image, image_size, image_size)
        return image, label

    ds = ds.map(load, num_parallel_calls=autotune).ignore_errors()
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=training).prefetch(autotune)
