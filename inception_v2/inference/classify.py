"""Classifying image files (``inception-v2 predict``), streamed: files are decoded and
preprocessed by tf.data (slim's eval preprocessing) a batch at a time and each batch's
results are handed on before the next is read, so memory stays flat in the number of files.

``predict_files`` is the command's one call (weights and paths in, predictions out);
``classify_files`` the same for a model already built."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from inception_v2.data.labels import labels_for, softmax, synset_names, top_k
from inception_v2.data.sources import DataKind, EvalData, image_files, is_image_file
from inception_v2.errors import DataError
from inception_v2.inference.quantized import is_quantized_model, load_quantized, quantized_labels
from inception_v2.inference.runner import ENCODED, Runner
from inception_v2.inference.served import is_served, load_served
from inception_v2.interrupts import raise_if_interrupted
from inception_v2.progress import Progress

if TYPE_CHECKING:
    import keras


@dataclass
class Prediction:
    """One file's top classes (``index``, ``synset``, ``name``, ``probability`` each), or why
    it has none (``error``: the file could not be decoded as an image)."""

    image: str
    top: list[dict] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"image": self.image, "top": self.top}


def predict_files(
    weights: str | os.PathLike,
    paths: list[str | os.PathLike],
    recursive: bool = False,
    top: int = 5,
    batch_size: int = 32,
    precision: str = "float32",
    engine: str = "keras",
    show_progress: bool = False,
    calibration=None,
) -> Iterator[Prediction]:
    """Each image's ``top`` classes under the classifier of ``weights``, streamed.

    Args:
        weights: ``"imagenet"`` or a path, as for ``InceptionV2``; a fine-tuned model's
            ``classes.json`` beside it names its classes (``labels.labels_for``).
        paths: image files, and folders of them.
        recursive: look in the folders' sub-folders too.
        top, batch_size, precision, engine: as for ``classify_files``.
        show_progress: a bar on stderr, cleared before each prediction is handed on.
        calibration: for int8, a ``calibration.CalibrationSet``.

    Returns:
        An iterator of ``Prediction``: one per file, in order, undecodable ones with ``error``.
        The paths are checked and the model is built before it is returned.

    Raises:
        MissingFile, DataError: a path that does not exist, a folder without images, or no
            file that starts like an image (checked before the model is built).
        InvalidArgument, CheckpointError: weights that cannot classify.
    """
    files = image_files(paths, recursive=recursive)
    if not any(is_image_file(f) for f in files):
        raise DataError(f"{', '.join(map(str, paths))}: no image could be decoded")
    runner = None
    if is_served(weights):  # an export, fed as a client feeds it
        served = load_served(weights)
        names = synset_names()  # ImageNet's synsets named; a fine-tuned model's names are names
        runner, model, classes = served.runner, None, served.classes
        labels = served.labels, [names.get(label, label) for label in served.labels]
    elif is_quantized_model(weights):  # a saved int8 model, run as it is
        runner, record = load_quantized(weights)
        model, classes, labels = None, record.classes, quantized_labels(weights, record.classes)
    else:
        from inception_v2.inference.model import (
            classifier,  # Keras and TensorFlow load here, after the checks
        )

        model, classes = classifier(weights, precision, engine)
        labels = labels_for(weights, classes)
    progress = Progress(len(files)) if show_progress else None
    stream = classify_files(
        model,
        files,
        labels,
        top=top,
        batch_size=batch_size,
        precision=precision,
        engine=engine,
        progress=progress.update if progress else None,
        calibration=calibration.images if calibration is not None else None,
        runner=runner,
    )
    return _cleared(stream, progress) if progress else stream


def _cleared(stream: Iterator[Prediction], progress: Progress) -> Iterator[Prediction]:
    for prediction in stream:
        progress.clear()
        yield prediction
    progress.close()


def classify_files(
    model: keras.Model,
    files: list[str | os.PathLike],
    labels: tuple[list[str], list[str]],
    top: int = 5,
    batch_size: int = 32,
    precision: str | None = None,
    engine: str = "keras",
    progress: Callable[[int], None] | None = None,
    calibration: np.ndarray | None = None,
    runner: Runner | None = None,
) -> Iterator[Prediction]:
    """Each file's ``top`` classes under ``model`` (probabilities out), in file order.

    Args:
        model: a classifier whose output is class probabilities.
        files: image files (``data.image_files`` lists folders).
        labels: ``(ids, names)`` by output index (``labels.labels_for``).
        top: classes per file (at most the model's).
        batch_size: images per forward pass.
        precision, engine, calibration: as ``inference.inference_function``.
        progress: called with the number of files done after each batch.
        runner: a compiled forward pass to use instead of ``model``'s (a saved int8 model's or a
            served model's: logits or log-probabilities out; ``model`` may then be None).

    Yields:
        A ``Prediction`` per file, undecodable files included (with ``error``), in order.

    Raises:
        DataError: not one file could be decoded.
    """
    from inception_v2.inference.function import inference_function
    from inception_v2.model.network import model_data_format

    paths = [str(f) for f in files]
    data = EvalData(f"{len(paths)} image files", DataKind.FILES, files=paths, labels=[0] * len(paths))
    if runner is not None:
        run, channels_first, logits = runner, False, True
    else:
        run = inference_function(model, precision=precision, engine=engine, calibration=calibration)
        channels_first, logits = model_data_format(model) == "channels_first", False
    ids, names = labels
    pending = iter(paths)
    decoded = 0
    for batch in data.batches(batch_size, encoded=run.inputs == ENCODED):
        raise_if_interrupted()  # a Ctrl-C that a library swallowed during the last batch
        images = batch["image"].numpy()
        if channels_first:
            images = np.transpose(images, (0, 3, 1, 2))  # the pipeline's NHWC to the model's NCHW
        probabilities = np.asarray(run(images))
        if logits:  # a saved int8 model ends in logits, a served one in log-probabilities
            probabilities = softmax(probabilities)
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
