"""Classifying image files (``inception-v2 predict``), streamed: files are decoded and
preprocessed by tf.data (slim's eval preprocessing) a batch at a time and each batch's
results are handed on before the next is read, so memory stays flat in the number of files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import keras
import numpy as np

from inception_v2.data import EvalData
from inception_v2.errors import DataError
from inception_v2.inference import inference_function
from inception_v2.interrupts import raise_if_interrupted
from inception_v2.labels import top_k
from inception_v2.network import model_data_format


@dataclass
class Prediction:
    """One file's top classes (``index``, ``synset``, ``name``, ``probability`` each), or why
    it has none (``error``: the file could not be decoded as an image)."""

    image: str
    top: list[dict] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"image": self.image, "top": self.top}


def classify_files(
    model: keras.Model,
    files: list[str | os.PathLike],
    labels: tuple[list[str], list[str]],
    top: int = 5,
    batch_size: int = 32,
    precision: str | None = None,
    engine: str = "keras",
    progress: Callable[[int], None] | None = None,
) -> Iterator[Prediction]:
    """Each file's ``top`` classes under ``model`` (probabilities out), in file order.

    Args:
        model: a classifier whose output is class probabilities.
        files: image files (``data.image_files`` lists folders).
        labels: ``(ids, names)`` by output index (``labels.labels_for``).
        top: classes per file (at most the model's).
        batch_size: images per forward pass.
        precision, engine: as ``inference.inference_function``.
        progress: called with the number of files done after each batch.

    Yields:
        A ``Prediction`` per file, undecodable files included (with ``error``), in order.

    Raises:
        DataError: not one file could be decoded.
    """
    paths = [str(f) for f in files]
    data = EvalData(f"{len(paths)} image files", "files", files=paths, labels=[0] * len(paths))
    run = inference_function(model, precision=precision, engine=engine)
    channels_first = model_data_format(model) == "channels_first"
    ids, names = labels
    pending = iter(paths)
    decoded = 0
    for batch in data.dataset(batch_size):
        raise_if_interrupted()  # Ctrl-C that TensorFlow's iterator swallowed
        images = batch["image"].numpy()
        if channels_first:
            images = np.transpose(images, (0, 3, 1, 2))  # the pipeline's NHWC to the model's NCHW
        probabilities = np.asarray(run(images))
        for path, row, best in zip(_ids(batch), probabilities, top_k(probabilities, top), strict=True):
            yield from _undecodable(pending, until=path)
            decoded += 1
            entries = [
                {"index": int(i), "synset": ids[i], "name": names[i], "probability": float(row[i])}
                for i in best
            ]
            yield Prediction(path, entries)
        if progress is not None:
            progress(len(images))
    if not decoded:
        raise DataError(
            f"{', '.join(paths[:3])}{' ...' if len(paths) > 3 else ''}: no image could be decoded"
        )
    yield from _undecodable(pending, until=None)


def _ids(batch) -> list[str]:
    return [i.decode() for i in batch["id"].numpy()]


def _undecodable(pending: Iterator[str], until: str | None) -> Iterator[Prediction]:
    """The files before ``until`` (all that are left, for None): the pipeline dropped them."""
    for path in pending:
        if path == until:
            return
        yield Prediction(path, error="cannot be decoded as an image")
