"""Served models that take what a client has, slim's eval preprocessing inside.

A SavedModel's ``serving_default`` (TF Serving's default signature) takes ``images``, a 1-D
``tf.string`` batch of encoded files (JPEG, PNG, GIF, BMP; any size, sizes mixed in one batch),
decodes each (``data.preprocessing.decode_image``), applies ``preprocess_for_eval`` - the same
TensorFlow ops eval's input pipeline runs, TF1's bilinear resize included - and returns:

- ``probabilities``: (N, classes) float32;
- ``classes``: (N, 5) int32, the output indices of the top 5, best first;
- ``scores``: (N, 5) their probabilities;
- ``labels``: (N, 5) their labels (synsets, "background" for slim's class 0; a fine-tuned
  model's class names).

``preprocessed`` takes the float batch the Keras model takes and returns the same four. The
labels of every output index are also written to ``assets.extra/labels.txt``.

ONNX, LiteRT and OpenVINO IR files take ``images``, uint8 ``(N, H, W, 3)`` with H and W free,
and return ``probabilities``: ``preprocess_batch_for_eval`` (``preprocess_for_eval`` in ops
each converter takes) then the model, converted from one TensorFlow function - by tf2onnx, by
LiteRT's converter from a SavedModel of that function (which freezes the variables), and by
OpenVINO's ``convert_model``, kept in float32. Their labels travel inside the file
(``inference.served.LABELS_KEY``).

A SavedModel batch holding a file that does not decode fails as a whole with TensorFlow's
``InvalidArgumentError`` (TF Serving answers the request with that error): the graph cannot
drop an element and keep the outputs aligned with the request.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from inception_v2.data.preprocessing import DEFAULT_SIZE, decode_image, preprocess_for_eval
from inception_v2.errors import InvalidArgument
from inception_v2.inference.served import (
    INPUT,
    LABELS_FILE,
    LABELS_KEY,
    PREPROCESSED_SIGNATURE,
    SERVING_SIGNATURE,
    TOP,
    raw_image_function,
)


def write_served_saved_model(serving, folder: str | os.PathLike, labels: list[str]) -> None:
    """Write ``serving`` (a ``keras.Model``, probabilities out) to ``folder`` as a served
    SavedModel with both signatures and the labels file.

    Args:
        serving: the classifier, probabilities out, on the TensorFlow backend.
        folder: where the SavedModel goes (created; it must not exist).
        labels: the label of each output index.

    Raises:
        InvalidArgument: another Keras backend, or ``labels`` not one per output.
    """
    import keras
    import tensorflow as tf

    height, width, classes = _checked(serving, labels)
    names = tf.constant(labels, tf.string)
    top = min(TOP, classes)

    def named(probabilities):
        scores, indices = tf.math.top_k(probabilities, k=top)
        return {
            "probabilities": probabilities,
            "classes": indices,
            "scores": scores,
            "labels": tf.gather(names, indices),
        }

    def model_input(encoded):
        return preprocess_for_eval(decode_image(encoded), height, width)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=INPUT)])
    def serve(images):
        batch = tf.map_fn(
            model_input, images, fn_output_signature=tf.TensorSpec([height, width, 3], tf.float32)
        )
        return named(serving(batch, training=False))

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32, name=INPUT)])
    def preprocessed(images):
        return named(serving(images, training=False))

    archive = keras.export.ExportArchive()
    archive.track(serving)
    archive.add_endpoint(SERVING_SIGNATURE, serve)
    archive.add_endpoint(PREPROCESSED_SIGNATURE, preprocessed)
    archive.write_out(str(folder), verbose=False)
    labels_file = Path(folder) / LABELS_FILE
    labels_file.parent.mkdir(exist_ok=True)
    labels_file.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")


def _checked(serving, labels: list[str]) -> tuple[int, int, int]:
    """The model's input size and classes, once the backend and labels are checked."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise InvalidArgument(
            f"a served model is written on Keras' TensorFlow backend, not {keras.backend.backend()} "
            "(unset KERAS_BACKEND)"
        )
    classes = int(serving.output.shape[-1])
    if len(labels) != classes:
        raise InvalidArgument(f"{len(labels)} labels for a model of {classes} classes")
    height, width = (size or DEFAULT_SIZE for size in serving.input.shape[1:3])
    return height, width, classes


def write_onnx(serving, path: str | os.PathLike, labels: list[str]) -> None:
    """``serving`` with its preprocessing as an ONNX file (tf2onnx), labels in its metadata."""
    import onnx
    import tf2onnx

    _checked(serving, labels)
    served = raw_image_function(serving)
    proto, _ = tf2onnx.convert.from_function(served, input_signature=served.input_signature, opset=17)
    entry = proto.metadata_props.add()
    entry.key, entry.value = LABELS_KEY, json.dumps(labels)
    onnx.save(proto, str(path))


def write_litert(serving, path: str | os.PathLike, labels: list[str]) -> None:
    """``serving`` with its preprocessing as a LiteRT flatbuffer, labels in a metadata entry.

    Converted from a SavedModel of the function: LiteRT's converter freezes its variables
    there (from the function itself, they stay variables the interpreter cannot read)."""
    import keras
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    _checked(serving, labels)
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(serving)
        archive.add_endpoint(SERVING_SIGNATURE, raw_image_function(serving))
        archive.write_out(f"{tmp}/saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            f"{tmp}/saved_model", signature_keys=[SERVING_SIGNATURE]
        )
        flatbuffer = converter.convert()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    buffer = schema.BufferT()
    buffer.data = list(json.dumps(labels).encode("utf-8"))
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = LABELS_KEY, len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    with open(path, "wb") as f:
        f.write(flatbuffer_utils.convert_object_to_bytearray(model))


def write_openvino(serving, path: str | os.PathLike, labels: list[str]) -> None:
    """``serving`` with its preprocessing as OpenVINO IR (``path`` the ``.xml``, its ``.bin``
    beside it), float32 weights (``save_model`` would halve them to float16), labels in rt_info."""
    from inception_v2.inference.openvino import import_openvino

    ov = import_openvino()
    _checked(serving, labels)
    model = ov.convert_model(raw_image_function(serving))
    model.set_rt_info(json.dumps(labels), LABELS_KEY)
    ov.save_model(model, str(path), compress_to_fp16=False)
