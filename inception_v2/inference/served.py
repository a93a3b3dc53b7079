"""Served models (what ``inception-v2 export`` writes) run as a client runs them.

Each takes what a client has, with slim's eval preprocessing inside:

- a SavedModel folder: ``serving_default`` takes ``images``, a 1-D ``tf.string`` batch of
  encoded files (JPEG, PNG, GIF, BMP; any size, mixed sizes in one batch) and returns
  ``probabilities`` and the top classes (``classes``, ``scores``, ``labels``); ``preprocessed``
  takes the float batch the Keras model takes. Labels in ``assets.extra/labels.txt``, TF
  Serving's folder for files the graph does not read.
- ONNX (``.onnx``), LiteRT (``.tflite``), OpenVINO IR (``.xml`` with its ``.bin``): input
  ``images``, uint8 ``(N, H, W, 3)`` with H and W free (decoded by the client, the image at its
  own size), output ``probabilities``. The labels travel inside the file, as JSON under
  ``LABELS_KEY``: ONNX metadata, a LiteRT metadata entry, the IR's ``rt_info``.

``eval`` and ``predict`` take any of them as ``--weights`` and feed it as a client would (the
encoded files, or each decoded at its own size), so its own preprocessing is what gets
measured. The runtimes load only inside the functions that need them: asking whether a path is
a served model stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inception_v2.errors import CheckpointError, MissingExtra
from inception_v2.inference.runner import ENCODED, Runner

SERVING_SIGNATURE = "serving_default"
PREPROCESSED_SIGNATURE = "preprocessed"
INPUT = "images"  # every format's one input
OUTPUTS = ("probabilities", "classes", "scores", "labels")  # the SavedModel's; the others': the first
TOP = 5  # the classes serving_default names
LABELS_FILE = Path("assets.extra") / "labels.txt"  # a SavedModel's labels, one per output index
LABELS_KEY = "inception_v2_labels"  # ONNX metadata, LiteRT metadata, IR rt_info: a JSON list
#: The runtime that serves each kind of file, by suffix ("" for a SavedModel folder).
RUNTIMES = {
    "": "tensorflow (SavedModel)",
    ".onnx": "onnxruntime",
    ".tflite": "litert",
    ".xml": "openvino (IR)",
}
RUNTIME = RUNTIMES[""]  # what runs a SavedModel


def raw_image_function(serving):
    """The ``tf.function`` that ONNX, LiteRT and OpenVINO files (``quantize``'s int8 IR too) are
    converted from: ``images``, uint8 ``(N, H, W, 3)`` of one size, in; ``{"probabilities": ...}``
    out, ``serving`` (a ``keras.Model``, probabilities out) after ``preprocess_batch_for_eval``."""
    import tensorflow as tf

    from inception_v2.data.preprocessing import DEFAULT_SIZE, preprocess_batch_for_eval

    height, width = (size or DEFAULT_SIZE for size in serving.input.shape[1:3])

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=INPUT)])
    def served(images):
        return {"probabilities": serving(preprocess_batch_for_eval(images, height, width), training=False)}

    return served


def is_saved_model(path: str | os.PathLike) -> bool:
    """True for a SavedModel folder (``saved_model.pb`` inside); says nothing of its signatures."""
    return (Path(path) / "saved_model.pb").is_file()


def is_served(path: str | os.PathLike) -> bool:
    """True for what ``export`` writes: a SavedModel folder, or an ``.onnx``, ``.tflite`` or
    ``.xml`` file (an int8 folder's ``model.xml`` is ``quantize``'s, not this)."""
    path = Path(path)
    if is_saved_model(path):
        return True
    in_quantized_folder = (path.parent / "quantized.json").is_file()
    return path.suffix.lower() in RUNTIMES and path.is_file() and not in_quantized_folder


def runtime_of(path: str | os.PathLike) -> str:
    """The runtime that serves ``path``."""
    return RUNTIME if is_saved_model(path) else RUNTIMES[Path(path).suffix.lower()]


@dataclass(frozen=True)
class ServedModel:
    """A loaded served model.

    Attributes:
        runner: encoded images in (``Runner.inputs == ENCODED``: a SavedModel takes them as
            they are, the others each decoded at its own size), log-probabilities out (their
            softmax is the file's probabilities again, so every measure of logits applies).
        labels: the label of each output index (synsets, "background" at 0 for slim's 1001
            classes; a fine-tuned model's class names).
        path: the file or folder.
    """

    runner: Runner
    labels: list[str]
    path: Path

    @property
    def classes(self) -> int:
        return len(self.labels)


def load_served(path: str | os.PathLike) -> ServedModel:
    """What ``inception-v2 export`` wrote, on its own runtime, ready to be fed encoded images.

    Raises:
        CheckpointError: ``path`` does not load (truncated, corrupt), or lacks the input, the
            output or the labels ``export`` writes (another model's file, or an earlier version's).
        MissingExtra: the runtime is not installed.
    """
    path = Path(path)
    if not is_served(path):
        raise CheckpointError(f"{path}: not a SavedModel folder or an .onnx, .tflite or .xml file")
    load = {
        "": _saved_model,
        ".onnx": _onnx,
        ".tflite": _litert,
        ".xml": _openvino,
    }["" if is_saved_model(path) else path.suffix.lower()]
    try:
        probabilities, labels = load(path)
    except (CheckpointError, MissingExtra):
        raise
    except Exception as e:  # any failure to load a user's file is that file's problem
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: does not load on {runtime_of(path)} ({first})") from None
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise CheckpointError(f"{path}: no labels ({LABELS_KEY}); not a file that inception-v2 export wrote")

    return ServedModel(
        Runner(as_logits(probabilities), "float32", runtime_of(path), inputs=ENCODED), labels, path
    )


def as_logits(probabilities):
    """``probabilities`` (a batch function) returning log-probabilities: their softmax is the
    same probabilities again, so a served model is scored as a model of logits is."""

    def log_probabilities(batch) -> np.ndarray:
        with np.errstate(divide="ignore"):  # a probability of 0 is a log-probability of -inf
            return np.log(probabilities(batch))

    return log_probabilities


def _saved_model(path: Path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signature = loaded.signatures.get(SERVING_SIGNATURE)
    inputs = signature.structured_input_signature[1] if signature is not None else {}
    spec = inputs.get(INPUT)
    if spec is None or spec.dtype != tf.string or spec.shape.rank != 1:
        raise CheckpointError(
            f"{path}: its {SERVING_SIGNATURE} signature does not take encoded images as '{INPUT}' "
            "(another model's export, or an earlier version's); export it again with inception-v2 export"
        )
    try:
        labels = (path / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: {LABELS_FILE} cannot be read ({e.__class__.__name__})") from None

    def probabilities(encoded, _loaded=loaded) -> np.ndarray:  # the signature needs it alive
        return signature(**{INPUT: tf.constant(encoded, tf.string)})["probabilities"].numpy()

    return probabilities, labels


def each_decoded(run_one):
    """A batch of encoded files, each decoded (as a client decodes it) and run at its own size."""

    def probabilities(encoded) -> np.ndarray:
        from inception_v2.data.preprocessing import decode_image

        return np.concatenate([run_one(decode_image(data).numpy()[None]) for data in encoded])

    return probabilities


def _checked_io(path: Path, inputs: list[str], outputs: list[str]) -> None:
    if inputs != [INPUT] or outputs[:1] != ["probabilities"]:
        raise CheckpointError(
            f"{path}: takes {inputs} and gives {outputs}, not '{INPUT}' and 'probabilities' "
            "(another model's file, or an earlier version's); export it again with inception-v2 export"
        )


def _onnx(path: Path):
    try:
        import onnxruntime
    except ImportError as e:
        raise MissingExtra.named("export", f"{path}: running ONNX needs onnxruntime ({e})") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _checked_io(path, [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    labels = _json(session.get_modelmeta().custom_metadata_map.get(LABELS_KEY))
    return each_decoded(lambda image: session.run(["probabilities"], {INPUT: image})[0]), labels


def _litert(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own copy of the interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    signatures = interpreter.get_signature_list()
    signature = signatures.get(SERVING_SIGNATURE, {})
    _checked_io(path, signature.get("inputs", []), signature.get("outputs", []))
    runner = interpreter.get_signature_runner(SERVING_SIGNATURE)
    return (
        each_decoded(lambda image: runner(**{INPUT: image})["probabilities"]),
        _json(litert_metadata(path.read_bytes(), LABELS_KEY)),
    )


def litert_metadata(model: bytes, name: str) -> str | None:
    """The metadata entry ``name`` of a LiteRT flatbuffer, as text (None if it has none)."""
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    for entry in parsed.metadata or []:
        if entry.name.decode() == name and parsed.buffers[entry.buffer].data is not None:
            return bytes(parsed.buffers[entry.buffer].data).decode("utf-8")
    return None


def _openvino(path: Path):
    from inception_v2.inference.openvino import compile_for_cpu, runtime

    model = runtime().read_model(str(path))
    _checked_io(path, [i.get_any_name() for i in model.inputs], [o.get_any_name() for o in model.outputs])
    labels = _json(model.get_rt_info(LABELS_KEY).astype(str) if model.has_rt_info(LABELS_KEY) else None)
    compiled = compile_for_cpu(model)
    output = compiled.outputs[0]
    return each_decoded(lambda image: compiled(image)[output]), labels


def _json(text: str | None):
    import json

    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None
