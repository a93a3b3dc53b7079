"""Batch inference beyond one machine: Apache Beam's ``RunInference`` over an exported model.

``predict_with_beam`` reads image files, runs them through an ``inception-v2 export`` file
(``inference.served``: the SavedModel takes the encoded files) with Beam's ``RunInference`` and
writes sharded JSON lines, one per image: ``{"image", "top": [{"index", "synset", "name",
"probability"}]}`` (``predict --json``'s entries), or ``{"image", "error"}`` for a file that does
not decode. Beam batches the elements and loads the model once per worker process. This module imports
Beam (the ``beam`` extra); the command line checks for it first.

The embedded default is Beam's DirectRunner with two worker processes on this machine; the same
pipeline runs on Dataflow, Flink or Spark when ``pipeline_args`` name that runner and its
options (Beam's own flags, such as ``--runner=DataflowRunner --project=... --region=...``; the
files and the model must then be where the workers can read them, e.g. ``gs://``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

#: The DirectRunner as the embedded default: two worker processes on this machine.
DEFAULT_PIPELINE_ARGS = (
    "--runner=DirectRunner",
    "--direct_num_workers=2",
    "--direct_running_mode=multi_processing",
)
SHARDS = "predictions"  # the output files: predictions-00000-of-0000N.jsonl


def predict_with_beam(
    model: str | os.PathLike,
    files: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    top: int = 5,
    pipeline_args: Iterable[str] = DEFAULT_PIPELINE_ARGS,
) -> None:
    """Run ``model`` (an export) over ``files`` with Beam and write JSON lines into ``out``.

    Args:
        model: what ``inception-v2 export`` wrote (the SavedModel folder, or an ``.onnx``,
            ``.tflite`` or ``.xml`` file).
        files: image files, readable by every worker (absolute paths, or ``gs://`` and such).
        out: the folder the shards are written to (it must exist).
        top: classes per image.
        pipeline_args: Beam's pipeline options (default: the DirectRunner, two processes).
    """
    handler = KeyedModelHandler(ServedModelHandler(str(model)))
    options = PipelineOptions(list(pipeline_args), save_main_session=False)
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "files" >> beam.Create([str(f) for f in files])
            | "read" >> beam.Map(_read)
            | "classify" >> RunInference(handler)
            | "top" >> beam.Map(_json_line, top)
            | "write" >> beam.io.WriteToText(str(Path(out) / SHARDS), file_name_suffix=".jsonl")
        )


def _read(path: str) -> tuple[str, bytes]:
    with FileSystems.open(path) as f:
        return path, f.read()


def _json_line(keyed, top: int) -> str:
    path, result = keyed
    if result.inference is None:
        return json.dumps({"image": path, "error": "cannot be decoded as an image"})
    probabilities, labels, names = result.inference
    best = np.argsort(-probabilities, kind="stable")[:top]
    entries = [
        {"index": int(i), "synset": labels[i], "name": names[i], "probability": float(probabilities[i])}
        for i in best
    ]
    return json.dumps({"image": path, "top": entries})


class _Loaded:
    """A worker's model, as Beam keeps it (by weak reference: a plain object, not a tuple)."""

    def __init__(self, served, names: list[str]):
        self.served, self.names = served, names


class ServedModelHandler(ModelHandler):
    """Beam's ``ModelHandler`` for an export: encoded images in, ``PredictionResult``s whose
    inference is ``(probabilities, labels, names)``, or None for a file that does not decode."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def load_model(self):
        from inception_v2.data.labels import synset_names
        from inception_v2.inference.served import load_served

        served = load_served(self._path)
        names = synset_names()  # ImageNet's synsets named; a fine-tuned model's names are names
        return _Loaded(served, [names.get(label, label) for label in served.labels])

    def run_inference(self, batch, model, inference_args=None):
        served, names = model.served, model.names
        return [
            PredictionResult(len(encoded), None if p is None else (p, served.labels, names))
            for encoded, p in zip(batch, _probabilities(served, list(batch)), strict=True)
        ]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 32}


def _probabilities(served, encoded: list[bytes]) -> list[np.ndarray | None]:
    """Each file's probabilities; a batch with a file that does not decode is run file by file,
    that file None."""
    try:
        return list(np.exp(served.runner(encoded)))
    except Exception:  # the runtimes' decode errors differ; each file is tried alone below
        if len(encoded) == 1:
            return [None]
    return [probabilities for data in encoded for probabilities in _probabilities(served, [data])]
