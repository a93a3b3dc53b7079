"""int8 models saved to disk (``inception-v2 quantize``) and run again without recalibrating.

Keras and OpenVINO load only inside the functions that need them: asking whether a path is a
quantized model stays cheap (the command line does it before anything heavy).

A quantized model is a folder: OpenVINO's IR (``model.xml``, ``model.bin``) of the classifier
as ``export`` writes an IR - input ``images``, uint8 ``(N, H, W, 3)`` at the image's own size,
slim's eval preprocessing inside, output ``probabilities``, the labels in its rt_info - quantized
by NNCF on the calibration images fed the same way; and ``quantized.json``, what it is: classes
(and ``classes.json`` for a fine-tuned model's names), layout, preprocessing, the source weights
and their SHA-384, the calibration set, NNCF's and OpenVINO's versions. ``eval`` and ``predict``
take the folder as ``--weights``. Folders of earlier versions (preprocessed float input, logits
out: ``PREPROCESSED_LAYOUT``) still load and run as they were saved.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from inception_v2.data.calibration import CalibrationSet
from inception_v2.data.labels import IMAGENET_HEADS, labels_for
from inception_v2.data.preprocessing import PREPROCESSING
from inception_v2.errors import CheckpointError
from inception_v2.files import atomic_folder, check_output_folder
from inception_v2.inference.runner import ENCODED, Runner
from inception_v2.inference.served import LABELS_KEY, as_logits, each_decoded, raw_image_function
from inception_v2.model.architecture import PRETRAINED
from inception_v2.weights.download import sha384_of

RECORD = "quantized.json"
COMMAND = "quantize"
#: What a saved int8 model takes and gives; ``PREPROCESSED_LAYOUT``: what earlier versions wrote.
RAW_LAYOUT = (
    "images: uint8 NHWC, RGB, each image at its own size, slim's eval preprocessing inside; probabilities out"
)
PREPROCESSED_LAYOUT = "NHWC, RGB in [-1, 1]; logits out"


@dataclass
class QuantizedRecord:
    """What ``quantized.json`` says of the model beside it."""

    classes: int
    source: str
    source_sha384: str
    calibration: str
    preprocessing: str = PREPROCESSING
    image_size: int = PRETRAINED.image_size
    layout: str = PREPROCESSED_LAYOUT
    nncf: str = ""
    openvino: str = ""


def quantized_folder(path: str | os.PathLike) -> Path | None:
    """The folder that ``quantize_weights`` wrote that ``path`` names - the folder, or its
    ``model.xml`` (the folder is what its user means: the record beside it says what it is) - or None."""
    path = Path(path)
    folder = path.parent if path.name == "model.xml" else path
    return folder if (folder / RECORD).is_file() else None


def is_quantized_model(path: str | os.PathLike) -> bool:
    """True for a folder that ``quantize_weights`` wrote, or its ``model.xml``."""
    return quantized_folder(path) is not None


def quantize_weights(
    weights: str | os.PathLike, out: str | os.PathLike, calibration: CalibrationSet, overwrite: bool = False
) -> QuantizedRecord:
    """Quantize the classifier of ``weights`` to int8 on ``calibration`` and save it in ``out``.

    Args:
        weights: ``"imagenet"`` or a path, as for ``InceptionV2``.
        out: the folder to create (written whole or not at all).
        calibration: the images NNCF calibrates on (``calibration.calibration_images``).
        overwrite: replace ``out`` if this command wrote it.

    Returns:
        The record written beside the model.

    Raises:
        OutputExists, OutputError: ``out`` exists or cannot be written (checked first).
        MissingExtra: OpenVINO or NNCF not installed.
        CheckpointError, MissingFile, InvalidArgument: weights that cannot classify.
    """
    check_output_folder(out, overwrite, COMMAND)
    from inception_v2.inference.model import classifier  # Keras loads here, after the checks
    from inception_v2.inference.openvino import import_nncf, import_openvino, quantize
    from inception_v2.weights.loading import resolve

    openvino = import_openvino()
    import_nncf()
    model, classes = classifier(weights, "float32", "openvino")  # probabilities out
    converted = openvino.convert_model(raw_image_function(model))
    quantized = quantize(converted, [pixels[None] for pixels in calibration.pixels()])
    path = resolve(weights)
    quantized.set_rt_info(json.dumps(labels_for(path, classes)[0]), LABELS_KEY)
    record = QuantizedRecord(
        classes=classes,
        source=str(weights),
        source_sha384=sha384_of(path) if path.is_file() else "",
        calibration=calibration.describe(),
        layout=RAW_LAYOUT,
        nncf=metadata.version("nncf"),
        openvino=metadata.version("openvino"),
    )
    with atomic_folder(out, overwrite, COMMAND, weights=str(weights)) as staging:
        openvino.save_model(quantized, str(staging / "model.xml"))
        (staging / RECORD).write_text(json.dumps(asdict(record), indent=2))
        if classes not in IMAGENET_HEADS:  # a fine-tuned model's class names travel with it
            (staging / "classes.json").write_text(json.dumps(labels_for(path, classes)[1]))
    return record


def load_quantized(folder: str | os.PathLike) -> tuple[Runner, QuantizedRecord]:
    """A saved int8 model, compiled for OpenVINO's CPU runtime, and its record.

    Raises:
        CheckpointError: ``folder`` is not a quantized model, or its files do not load.
        MissingExtra: OpenVINO not installed.
    """
    folder = quantized_folder(folder) or Path(folder)
    if not (folder / RECORD).is_file():
        raise CheckpointError(
            f"{folder}: not a quantized model (no {RECORD}); inception-v2 quantize writes one"
        )
    from inception_v2.inference.openvino import compile_for_cpu

    try:
        record = QuantizedRecord(**json.loads((folder / RECORD).read_text()))
        compiled = compile_for_cpu(str(folder / "model.xml"), "int8")
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(
            f"{folder}: the quantized model does not load ({str(e).splitlines()[0][:200]})"
        ) from None
    output = compiled.outputs[0]
    if record.layout == RAW_LAYOUT:  # fed as a client feeds it: each file decoded at its own size
        probabilities = each_decoded(lambda image: compiled(image)[output])
        return Runner(as_logits(probabilities), "int8", "openvino", inputs=ENCODED), record
    return Runner(
        lambda x: np.asarray(compiled(np.asarray(x, np.float32))[output]), "int8", "openvino"
    ), record


def quantized_labels(folder: str | os.PathLike, classes: int) -> tuple[list[str], list[str]]:
    """``(ids, names)`` by output index of a saved int8 model (``labels.labels_for``)."""
    return labels_for((quantized_folder(folder) or Path(folder)) / "model.xml", classes)
