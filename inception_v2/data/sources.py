"""Evaluation data sources, streamed with tf.data in slim's eval preprocessing.

Three layouts, each giving slim labels (1..1000 for ImageNet, 0 = background):

- slim's ImageNet TFRecords (``validation-?????-of-00128``, as ``build_imagenet_data.py``
  writes them: ``image/encoded``, ``image/class/label`` in 1..1000, ``image/filename``);
- a directory of raw ``ILSVRC2012_val_*.JPEG`` plus the 50,000-line ground-truth file;
- class-per-folder directories named by synset, or by class name for other data sets.

Every element carries an id, so images that cannot be decoded are skipped, counted and
named rather than lost silently.
"""

from __future__ import annotations

import enum
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from inception_v2.data.labels import data_path, read_ground_truth, synset_to_label, synsets
from inception_v2.data.preprocessing import DEFAULT_SIZE, decode_image, preprocess_for_eval
from inception_v2.errors import DataError, MissingFile
from inception_v2.interrupts import iterate

if TYPE_CHECKING:  # TensorFlow is imported only when data is streamed
    import tensorflow as tf

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)
SYNSET = re.compile(r"n\d{8}$")


class DataKind(enum.StrEnum):
    """What an ``EvalData`` streams; the values are what reports and messages show."""

    IMAGENET_TFRECORD = "imagenet-tfrecord"  # slim's validation-*-of-00128
    IMAGENET_DIRECTORY = "imagenet-directory"  # raw ILSVRC2012_val_*.JPEG + ground truth
    IMAGENET_V2 = "imagenet-v2"  # ImageNetV2's folders 0..999
    IMAGENET_FOLDERS = "imagenet-folders"  # class folders named by synset
    IMAGENET_A = "imagenet-a"  # ImageNet-A: synset folders of its 200 classes, scored over them
    IMAGENET_R = "imagenet-r"  # ImageNet-R: likewise
    FOLDERS = "folders"  # class folders of another data set
    FILES = "files"  # image files without labels (predict, calibration)


@dataclass
class EvalData:
    """A source of ``{"image", "label", "id"}`` elements and what is known of it up front."""

    description: str
    kind: DataKind
    files: list[str] = field(default_factory=list)  # image files, or TFRecord shards
    labels: list[int] = field(default_factory=list)  # per image file (empty for TFRecords)
    class_names: list[str] | None = None  # for non-ImageNet class folders
    image_size: int = DEFAULT_SIZE
    #: ImageNet-A / -R: the 0-based ImageNet classes whose logits alone are scored (the argmax
    #: over them, as timm and the data sets' authors score these sets); None: all.
    class_subset: list[int] | None = None

    @property
    def imagenet(self) -> bool:
        return self.kind.startswith("imagenet")

    def expected_ids(self, limit: int | None = None) -> list[str]:
        """The ids of the elements ``dataset(limit=limit)`` examines (each ``shard#index`` for TFRecords).

        All of a shard's ids follow from its record count, read off the records' length
        prefixes without reading the images (ImageNet's 6.4 GB are read once, by the
        evaluation). With ``limit``, the first ``limit`` ids of the same interleaved reading
        as ``dataset`` (four shards at a time), which reads only those records.
        """
        if self.kind != DataKind.IMAGENET_TFRECORD:
            return list(self.files[:limit] if limit else self.files)
        if not limit:
            return [f"{shard}#{i}" for shard in self.files for i in range(count_records(shard))]
        ids = self._elements().map(lambda element: element["id"])
        return [i.decode() for i in iterate(ids.take(limit).as_numpy_iterator())]

    def _elements(self):
        """Undecoded elements in stream order: ``{"record", "id"}`` or ``{"id", "label"}``."""
        import tensorflow as tf

        if self.kind == DataKind.IMAGENET_TFRECORD:
            elements = tf.data.Dataset.from_tensor_slices(self.files).interleave(
                _tfrecord_elements,
                cycle_length=min(4, len(self.files)),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        else:
            elements = tf.data.Dataset.from_tensor_slices({"id": self.files, "label": self.labels})
        return without_autotuning(elements)

    def dataset(self, batch_size: int, limit: int | None = None, encoded: bool = False):
        """Batched ``{"image", "label", "id", "filename", "valid"}``; undecodable images dropped.
        ``filename``: the image's own file name (a TFRecord's ``image/filename``, may be empty).
        ``encoded``: each ``image`` is the file's bytes as stored (for a served model that
        decodes and preprocesses them itself), still dropped where they do not decode."""
        import functools

        import tensorflow as tf

        autotune = tf.data.AUTOTUNE
        decode = self._decode_record if self.kind == DataKind.IMAGENET_TFRECORD else self._decode_file
        decode = functools.partial(decode, encoded=encoded)
        ds = self._elements().map(decode, num_parallel_calls=autotune)
        if limit:
            ds = ds.take(limit)
        ds = ds.ignore_errors()
        return ds.batch(batch_size).prefetch(autotune)

    def batches(self, batch_size: int, limit: int | None = None, encoded: bool = False) -> Iterator[dict]:
        """The batches of ``dataset`` as the library loops over them: a Ctrl-C while one is
        being decoded is raised once it has arrived (``interrupts.iterate``), never inside
        TensorFlow's iterator."""
        return iterate(self.dataset(batch_size, limit, encoded))

    def _prepared(self, data, encoded: bool):
        """The image's model input, or (``encoded``) its bytes once they are known to decode."""
        import tensorflow as tf

        image = decode_image(data)
        if not encoded:
            return preprocess_for_eval(image, self.image_size, self.image_size)
        # The bytes, joined to a value of every decoded pixel: a file that does not decode to
        # the end drops the element, as it does for the Keras model (tf.data prunes a mere
        # control dependency, and an image's shape comes from its header).
        every_pixel = tf.strings.as_string(tf.reduce_max(image))
        return tf.strings.substr(tf.strings.join([data, every_pixel]), 0, tf.strings.length(data))

    def _decode_file(self, element, encoded: bool = False):
        import tensorflow as tf

        return {
            "image": self._prepared(tf.io.read_file(element["id"]), encoded),
            "label": tf.cast(element["label"], tf.int32),
            "id": element["id"],
            "filename": tf.strings.regex_replace(element["id"], r"^.*[/\\]", ""),
            "valid": tf.constant(True),
        }

    def _decode_record(self, element, encoded: bool = False):
        """Parse one slim Example; a record missing a key is flagged, not decoded."""
        import tensorflow as tf

        features = tf.io.parse_single_example(
            element["record"],
            {
                "image/encoded": tf.io.FixedLenFeature([], tf.string, default_value=""),
                "image/class/label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
                "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
            },
        )
        valid = tf.logical_and(
            tf.strings.length(features["image/encoded"]) > 0, features["image/class/label"] >= 0
        )
        size = self.image_size
        image = tf.cond(
            valid,
            lambda: self._prepared(features["image/encoded"], encoded),
            lambda: tf.constant(b"") if encoded else tf.zeros((size, size, 3), tf.float32),
        )
        return {
            "image": image,
            "label": tf.cast(features["image/class/label"], tf.int32),
            "id": element["id"],
            "filename": features["image/filename"],
            "valid": valid,
        }


def count_records(path: str | os.PathLike) -> int:
    """The records of an (uncompressed) TFRecord file, counted by hopping from one length
    prefix to the next: ``uint64 length, uint32 CRC, data, uint32 CRC`` per record."""
    count, position = 0, 0
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while position < size:
            f.seek(position)
            header = f.read(8)
            length = struct.unpack("<Q", header)[0] if len(header) == 8 else size
            position += 8 + 4 + length + 4
            if position > size:
                raise DataError(f"{path}: truncated TFRecord file (record {count} ends past the end)")
            count += 1
    return count


def without_autotuning(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` and every pipeline built on it, with tf.data's autotuning off.

    An autotuned iterator's background thread waits out its tuning period, which grows the
    longer the iterator lives, before the iterator can be destroyed: a loop that stops before the data ends (a
    limit, Ctrl-C, Keras stopping at its step count) or an iterator collected later would hold
    the program up for that long. Without autotuning, ``AUTOTUNE`` parallelism keeps
    TensorFlow's starting value instead of being tuned, and ``prefetch`` still overlaps decoding
    with the model.

    Args:
        ds: the pipeline, or its first stage (options reach every stage built on it).

    Returns:
        The same pipeline with ``autotune.enabled`` off.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _tfrecord_elements(shard):
    import tensorflow as tf

    records = tf.data.TFRecordDataset(shard).enumerate()
    return records.map(
        lambda i, r: {"record": r, "id": tf.strings.join([shard, "#", tf.strings.as_string(i)])}
    )


def is_image_name(path: Path) -> bool:
    """Named like an image file this library reads (the content is checked where it matters)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


# Leading bytes of the formats tf.io.decode_image reads.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the file starts like a JPEG, PNG, GIF, BMP or WebP (whatever its name says)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    webp = head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    return webp or any(head.startswith(s) for s in _SIGNATURES)


def split_decodable(files: list[str | os.PathLike]) -> tuple[list[str], list[str]]:
    """The one decode check of the package: which of ``files`` the decoder every pipeline uses
    (``preprocessing.decode_image``: content, not name, decides) reads, and which it cannot - a
    truncated JPEG, an empty file, text under an image's name. Streamed in parallel, memory
    flat; what evaluation finds while it streams (the ids that never arrive) is the same check.

    Returns:
        ``(readable, unreadable)``: the files as path strings, each list in the given order.
    """
    files = [os.fspath(f) for f in files]
    if not files:
        return [], []
    import tensorflow as tf

    def decodes(path):
        return tf.shape(decode_image(tf.io.read_file(path)))[0] >= 0  # decoded in full, or an error

    paths = without_autotuning(tf.data.Dataset.from_tensor_slices(files))
    checked = paths.map(lambda path: (path, decodes(path)), num_parallel_calls=tf.data.AUTOTUNE)
    readable = {path.decode() for path, _ in iterate(checked.ignore_errors().as_numpy_iterator())}
    return [f for f in files if f in readable], [f for f in files if f not in readable]


def _image_files(directory: Path, recursive: bool = False) -> list[Path]:
    found = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in found if p.is_file() and is_image_name(p))


def list_class_folders(root: str | os.PathLike) -> tuple[list[str], list[list[Path]]]:
    """The one class-folder scanner: ``root``'s sub-folders (sorted names, one class each) and
    every file in each, sorted. Evaluation keeps the files named like images (and counts the
    undecodable ones as it decodes); training decodes each first (``split_decodable``)."""
    root = Path(root)
    if not root.is_dir():
        raise MissingFile(f"{root}: no such data directory")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f"{root}: no class sub-folders")
    return [f.name for f in folders], [sorted(p for p in f.iterdir() if p.is_file()) for f in folders]


def image_files(paths: list[str | Path], recursive: bool = False) -> list[Path]:
    """The files named, with each folder replaced by the image files in it (by name; with
    ``recursive``, in its sub-folders too). Standard library only: a path that does not exist
    is refused before TensorFlow loads.

    Raises:
        MissingFile: a path that does not exist.
        DataError: a folder without image files.
    """
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = _image_files(path, recursive)
            if not found:
                where = "or its sub-folders " if recursive else ""
                hint = "" if recursive else "; --recursive looks in its sub-folders"
                raise DataError(f"{path}: no image files in it {where}({', '.join(IMAGE_SUFFIXES)}){hint}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise MissingFile(f"{path}: no such image file or folder")
    return files


def imagenet_directory(directory: str | Path, ground_truth: str | Path | None = None) -> EvalData:
    """Raw ``ILSVRC2012_val_*.JPEG`` files labelled by the 50,000-line ground-truth file."""
    directory = Path(directory)
    truth = read_ground_truth(ground_truth or data_path("imagenet_2012_validation_synset_labels.txt"))
    to_label = synset_to_label()
    files, labels = [], []
    for path in sorted(directory.iterdir()):
        match = VAL_NAME.match(path.name)
        if not match:
            continue
        number = int(match.group(1))
        if not 1 <= number <= len(truth):
            raise DataError(f"{path}: image number {number} is outside the ground truth's 1..{len(truth)}")
        files.append(str(path))
        labels.append(to_label[truth[number - 1]])
    if not files:
        raise DataError(f"{directory}: no ILSVRC2012_val_*.JPEG files")
    return EvalData(
        f"{directory} ({len(files)} ImageNet validation images)", DataKind.IMAGENET_DIRECTORY, files, labels
    )


def class_folders(directory: str | Path, dataset: str | None = None) -> EvalData:
    """One sub-folder per class: ImageNet synsets (``n01440764``) or any class names.

    Synset folders that are exactly ImageNet-A's or -R's 200 classes are that set (scored over
    its 200 classes); ``dataset`` (``"imagenet-a"`` or ``"imagenet-r"``) says so for a folder of
    some of them.

    Raises:
        DataError: folders that are not all synsets or all other names; with ``dataset``, a
            folder that is not one of its classes.
        InvalidArgument: an unknown ``dataset``.
    """
    directory = Path(directory)
    names, members = list_class_folders(directory)
    subset = _imagenet_subset_of(directory, names, dataset)
    synset_like = [n for n in names if SYNSET.match(n)]
    to_label = synset_to_label()
    if any(n.isdigit() for n in names):  # ImageNetV2: folder k is the k-th synset, sorted
        label_of = imagenet_v2_labels(directory, names)
        kind, class_list = DataKind.IMAGENET_V2, None
    elif synset_like:
        unknown = [n for n in names if n not in to_label]
        if unknown:
            raise DataError(
                f"{directory}: folder(s) {', '.join(unknown[:5])} are not ILSVRC synsets "
                "(folders must all be synsets, or none)"
            )
        label_of = {n: to_label[n] for n in names}
        kind, class_list = subset[0] if subset else DataKind.IMAGENET_FOLDERS, None
    else:
        label_of = {n: i for i, n in enumerate(names)}
        kind, class_list = DataKind.FOLDERS, names
    files, labels = [], []
    for name, paths in zip(names, members, strict=True):
        for path in filter(is_image_name, paths):
            files.append(str(path))
            labels.append(label_of[name])
    if not files:
        raise DataError(f"{directory}: the class folders hold no images ({', '.join(IMAGE_SUFFIXES)})")
    layout = "ImageNetV2 layout, " if kind == DataKind.IMAGENET_V2 else ""
    if subset:
        layout = f"{kind.value}, scored over its {len(subset[1])} classes, "
    return EvalData(
        f"{directory} ({layout}{len(files)} images in {len(names)} class folders)",
        kind,
        files,
        labels,
        class_names=class_list,
        class_subset=subset[1] if subset else None,
    )


def _imagenet_subset_of(directory: Path, names: list[str], dataset: str | None):
    """``(kind, 0-based class indices)`` when the folders are ImageNet-A's or -R's, else None."""
    from inception_v2.data.labels import IMAGENET_SUBSETS, imagenet_subset

    if dataset is not None:
        indices, subset = imagenet_subset(dataset)
        foreign = [n for n in names if n not in set(subset)]
        if foreign:
            raise DataError(
                f"{directory}: folder(s) {', '.join(foreign[:5])} are not among {dataset}'s {len(subset)} "
                f"classes ({len(foreign)} of {len(names)})"
            )
        return DataKind(dataset), indices
    for name in IMAGENET_SUBSETS:
        indices, subset = imagenet_subset(name)
        if set(names) == set(subset):  # as released: its 200 synset folders
            return DataKind(name), indices
    return None


def imagenet_v2_labels(directory: Path, names: list[str]) -> dict[str, int]:
    """slim's label (1..1000) of each folder of an ImageNetV2 release (Recht et al. 2019):
    folders ``0`` ... ``999``, each the 0-based index of its class in sorted-synset order.

    Raises:
        DataError: names that are not all numbers, or not exactly 0..999.
    """
    other = [n for n in names if not n.isdigit()]
    if other:
        raise DataError(
            f"{directory}: numbered class folders (ImageNetV2) mixed with others: {', '.join(other[:5])}"
        )
    numbers = {int(n) for n in names}
    expected = set(range(len(synsets())))
    if numbers != expected:
        missing = sorted(expected - numbers)[:5]
        extra = sorted(numbers - expected)[:5]
        problems = [
            f"missing {', '.join(map(str, missing))}" if missing else "",
            f"beyond 999: {extra}" if extra else "",
        ]
        found = "; ".join(p for p in problems if p)
        raise DataError(f"{directory}: an ImageNetV2 folder holds class folders 0..999; {found}")
    return {n: int(n) + 1 for n in names}  # sorted-synset index k is slim's label k + 1


def tfrecords(pattern: str | Path) -> EvalData:
    """slim's ImageNet validation shards: a directory (``validation-*``), a glob or one file."""
    pattern = str(pattern)
    path = Path(pattern)
    if path.is_dir():
        shards = sorted(path.glob("validation-*"))
    elif path.is_file():
        shards = [path]
    else:
        shards = sorted(Path(path.parent).glob(path.name)) if path.parent.is_dir() else []
    if not shards:
        raise DataError(f"{pattern}: no TFRecord shards found")
    return EvalData(
        f"{pattern} ({len(shards)} TFRecord shards)", DataKind.IMAGENET_TFRECORD, [str(s) for s in shards]
    )


def open_data(
    source: str | Path | None, ground_truth: str | Path | None = None, dataset: str | None = None
) -> EvalData:
    """Pick the layout of ``source``; ``None`` is the bundled 100-image validation sample.
    ``dataset`` names ImageNet-A or -R for class folders of some of their classes.

    Raises:
        MissingFile, DataError: a source that is not there or not a known layout; ``dataset``
            with a source that is not class folders, or folders not of its classes.
    """
    if dataset is not None:
        path = Path(source) if source is not None else None
        if path is None or not path.is_dir() or not any(p.is_dir() for p in path.iterdir()):
            raise DataError(f"--dataset {dataset}: give --data, a folder of its synset folders")
        return class_folders(path, dataset)
    if source is None:
        return imagenet_directory(data_path("imagenet_val_sample"), ground_truth)
    path = Path(source)
    if any(ch in str(source) for ch in "*?[") or (
        path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES
    ):
        return tfrecords(source)
    if not path.exists():
        raise MissingFile(f"{path}: no such data directory or file")
    if not path.is_dir():
        raise DataError(f"{path}: expected a directory, TFRecord shards or a glob of them")
    entries = list(path.iterdir())
    if any(VAL_NAME.match(p.name) for p in entries):
        return imagenet_directory(path, ground_truth)
    if any(p.name.startswith("validation-") for p in entries):
        return tfrecords(path)
    if any(p.is_dir() for p in entries):
        return class_folders(path)
    if not entries:
        raise DataError(f"{path}: empty directory")
    raise DataError(f"{path}: neither ILSVRC2012_val_*.JPEG files, validation-* TFRecords, nor class folders")
