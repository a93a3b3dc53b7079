"""Class-folder training data with slim's ``preprocess_for_train`` augmentation.

Augmentation follows tensorflow/models research/slim ``inception_preprocessing``: a
distorted bounding-box crop (min object covered 0.1, aspect 3/4..4/3, area 5..100 %),
bilinear resize, random left-right flip, optional colour distortion (fast mode:
brightness then saturation), then ``(x - 0.5) * 2``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from inception_v2.data.preprocessing import (
    DEFAULT_SIZE,
    decode_image,
    preprocess_for_eval,
    slim_resize,
    to_model_range,
)
from inception_v2.data.sources import is_image_name, list_class_folders, split_decodable, without_autotuning
from inception_v2.errors import DataError, InvalidArgument


@dataclass
class ClassFolders:
    """Files and labels of a class-per-folder split; ``unreadable`` lists skipped files."""

    root: str
    class_names: list[str]
    files: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def scan_class_folders(
    root: str | os.PathLike, class_names: list[str] | None = None, empty_classes: bool = False
) -> ClassFolders:
    """Every image under ``root/<class>/`` (``data.list_class_folders``), each one decoded once
    (``data.sources.split_decodable``, the check evaluation makes): a file that is not named like an image
    or cannot be decoded (a truncated JPEG) is listed as unreadable, never dropped unsaid.

    Args:
        root: the folder of class folders.
        class_names: the classes ``root`` must hold (a validation folder: the training classes).
        empty_classes: accept a class folder without a readable image (validation data).

    Raises:
        MissingFile: ``root`` does not exist.
        DataError: no class folders, other classes than ``class_names``, no readable image, or
            (unless ``empty_classes``) a class without one.
    """
    found, members = list_class_folders(root)
    if class_names is not None and found != class_names:
        raise DataError(f"{root}: class folders {found} differ from the training classes {class_names}")
    data = ClassFolders(str(root), found)
    label_of = {str(p): label for label, paths in enumerate(members) for p in paths if is_image_name(p)}
    data.files, undecodable = split_decodable(list(label_of))
    data.labels = [label_of[path] for path in data.files]
    data.unreadable = [str(p) for paths in members for p in paths if not is_image_name(p)] + undecodable
    if not data.files:
        raise DataError(f"{root}: the class folders hold no readable images")
    present = set(data.labels)
    empty = [name for label, name in enumerate(found) if label not in present]
    if empty and not empty_classes:
        raise DataError(
            f"{os.path.join(root, empty[0])}: a class folder without a readable image"
            + (f" (and {len(empty) - 1} more)" if len(empty) > 1 else "")
            + "; remove it or add images"
        )
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
    """slim's ``preprocess_for_train`` (fast mode) on one decoded image.

    The draws are slim's (the same distributions), made by TensorFlow's stateless random ops:
    ``seed`` (a shape-[2] integer tensor) decides them all, so the same seed gives the same
    augmentation whatever the thread that runs it; None draws a seed.
    """
    import tensorflow as tf

    if seed is None:
        seed = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)
    crop, flip, brightness, saturation = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    image = tf.image.convert_image_dtype(image, tf.float32)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=crop,
        min_object_covered=0.1,
        aspect_ratio_range=(0.75, 1.33),
        area_range=(0.05, 1.0),
        max_attempts=100,
        use_image_if_no_bounding_boxes=True,
    )
    image = slim_resize(tf.slice(image, begin, size), height, width)
    image = tf.image.stateless_random_flip_left_right(image, flip)
    if color_distortion:
        # slim's fast-mode distort_color: brightness, then saturation, then clip (slim draws the
        # ordering from num_distort_cases = 1 in fast mode: always this one).
        image = tf.image.stateless_random_brightness(image, 32.0 / 255.0, brightness)
        image = tf.image.stateless_random_saturation(image, 0.5, 1.5, saturation)
        image = tf.clip_by_value(image, 0.0, 1.0)
    return to_model_range(image)


def make_dataset(
    data: ClassFolders,
    batch_size: int,
    training: bool,
    image_size: int = DEFAULT_SIZE,
    color_distortion: bool = True,
    seed: int = 0,
    repeat: bool = False,
):
    """A batched tf.data pipeline of (image, label): augmented and shuffled for training.

    Repeatable: the order comes from ``seed``, and the augmentation of the n-th image the
    pipeline yields from ``(seed, n)`` (stateless random ops), so two pipelines made alike give
    the same batches, however many threads decode.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    ds = without_autotuning(tf.data.Dataset.from_tensor_slices((data.files, data.labels)))
    if training:
        ds = ds.shuffle(len(data.files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    def load(n, path, label):
        image = decode_image(tf.io.read_file(path))
        if training:
            element_seed = tf.stack([tf.constant(seed, tf.int64), n])
            image = preprocess_for_train(image, image_size, image_size, color_distortion, element_seed)
        else:
            image = preprocess_for_eval(image, image_size, image_size)
        return image, label

    ds = ds.enumerate().map(lambda n, element: load(n, *element), num_parallel_calls=autotune)
    return ds.ignore_errors().batch(batch_size, drop_remainder=training).prefetch(autotune)
