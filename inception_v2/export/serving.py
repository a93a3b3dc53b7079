"""A SavedModel that takes what a client has: encoded images, slim's eval preprocessing inside.

``serving_default`` (TF Serving's default signature) takes ``images``, a 1-D ``tf.string`` batch
of encoded files (JPEG, PNG, GIF, BMP; any size, sizes mixed in one batch), decodes each
(``data.preprocessing.decode_image``), applies ``preprocess_for_eval`` - the same TensorFlow
ops eval's input pipeline runs, TF1's bilinear resize included - and returns:

- ``probabilities``: (N, classes) float32;
- ``classes``: (N, 5) int32, the output indices of the top 5, best first;
- ``scores``: (N, 5) their probabilities;
- ``labels``: (N, 5) their labels (synsets, "background" for slim's class 0; a fine-tuned
  model's class names).

``preprocessed`` takes the float batch the Keras model takes and returns the same four. The
labels of every output index are also written to ``assets.extra/labels.txt``
(``inference.served``, which ``eval`` and ``predict`` load).

A batch holding a file that does not decode fails as a whole with TensorFlow's
``InvalidArgumentError`` (TF Serving answers the request with that error): the graph cannot
drop an element and keep the outputs aligned with the request.
"""

from __future__ import annotations

import os
from pathlib import Path

from inception_v2.data.preprocessing import DEFAULT_SIZE, decode_image, preprocess_for_eval
from inception_v2.errors import InvalidArgument
from inception_v2.inference.served import (
    INPUT,
    LABELS_FILE,
    PREPROCESSED_SIGNATURE,
    SERVING_SIGNATURE,
    TOP,
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

    if keras.backend.backend() != "tensorflow":
        raise InvalidArgument(
            f"a SavedModel with its preprocessing is written on Keras' TensorFlow backend, not "
            f"{keras.backend.backend()} (unset KERAS_BACKEND)"
        )
    classes = int(serving.output.shape[-1])
    if len(labels) != classes:
        raise InvalidArgument(f"{len(labels)} labels for a model of {classes} classes")
    height, width = (size or DEFAULT_SIZE for size in serving.input.shape[1:3])
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
