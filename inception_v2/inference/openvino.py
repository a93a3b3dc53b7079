"""OpenVINO as an inference engine for the same Keras model, with the same numbers.

The model's forward pass with the weights frozen in (the ``tf.function`` that
``inference_function`` builds on the TensorFlow backend) is converted once with
``openvino.convert_model`` and compiled for OpenVINO's CPU runtime, any batch size. Float32
stays float32: the CPU plugin would pick bfloat16 by itself on AMX CPUs, so the inference
precision is pinned (``f32``; ``bf16`` only when ``precision="bfloat16"`` is asked).

Guards: OpenVINO missing is an ``ImportError`` naming the extra; a model it cannot convert
falls back to the Keras engine with a one-line notice; a float32 result that differs from
Keras's on the first batch by more than ``TOLERANCE`` (times the output's magnitude where that
exceeds 1) raises ``EngineMismatch`` instead of being used.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys

import keras
import numpy as np

from inception_v2.errors import InvalidArgument, MissingExtra
from inception_v2.inference.runner import Runner
from inception_v2.precision import check_precision, model_precision

TOLERANCE = 1e-4
#: OpenVINO's inference precision for each of this package's precisions (CPU: no TF32). An int8
#: model computes its quantized operations in int8 and the rest in float32.
INFERENCE_PRECISION = {"float32": "f32", "tf32": "f32", "bfloat16": "bf16", "int8": "f32"}
log = logging.getLogger("inception_v2")


class EngineMismatch(RuntimeError):
    """OpenVINO's float32 result is not Keras's: refused rather than silently used. A bug (in
    OpenVINO or here), not the user's input: the command line shows its traceback."""


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise MissingExtra.named("openvino", "the OpenVINO engine needs OpenVINO") from None
    return openvino


@functools.cache
def runtime():
    """The process's one OpenVINO runtime (``openvino.Core``), made once and kept to the end.

    One, because OpenVINO's CPU plugin gives the thread that uses a Core an alternate signal
    stack of its own and, when that Core is freed, puts back the stack it found: two Cores freed
    in the order they were made leave the thread on a freed stack, and the next signal it handles
    (Ctrl-C) ends the process with SIGSEGV instead of ``KeyboardInterrupt``.

    Raises:
        MissingExtra: OpenVINO is not installed.
    """
    return import_openvino().Core()


def import_nncf():
    try:
        import nncf
    except ImportError:
        raise MissingExtra.named("openvino", "int8 needs NNCF, OpenVINO's quantization tool") from None
    return nncf


def compile_for_cpu(model, precision: str = "float32"):
    """``model`` (an OpenVINO model, or the path of its IR) compiled for this process's CPU
    runtime in ``precision`` (OpenVINO's inference precision hint; int8 models carry their own
    int8 operations and run the rest in float32), tuned for latency."""
    hints = {"INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[precision], "PERFORMANCE_HINT": "LATENCY"}
    return runtime().compile_model(model, "CPU", hints)


def quantize(converted, samples):
    """NNCF's post-training quantization of an OpenVINO model, its defaults, on ``samples``
    (each one input of the model: a batch of one image, preprocessed or not, as it takes them)."""
    nncf = import_nncf()
    runtime()  # made before NNCF's own Cores, so theirs are freed first (see ``runtime``)
    samples = list(samples)
    dataset = nncf.Dataset(samples)
    # NNCF's progress bars: on stderr (stdout holds results), or nowhere when this package's
    # notes are off (the command line's --quiet).
    quiet = not logging.getLogger("inception_v2").isEnabledFor(logging.INFO)
    with open(os.devnull, "w") as devnull, contextlib.ExitStack() as stack:
        stack.enter_context(contextlib.redirect_stdout(devnull if quiet else sys.stderr))
        if quiet:
            stack.enter_context(contextlib.redirect_stderr(devnull))
            nncf_log = logging.getLogger("nncf")
            previous = nncf_log.level
            nncf_log.setLevel(logging.WARNING)
            stack.callback(nncf_log.setLevel, previous)
        return nncf.quantize(converted, dataset, subset_size=len(samples))


def openvino_function(
    model: keras.Model, reference: Runner, precision: str | None = None, calibration: np.ndarray | None = None
) -> Runner:
    """``model``'s forward pass on OpenVINO's CPU runtime, returning NumPy (see module doc).

    Args:
        model: a float32 model (folded or not).
        reference: ``model``'s float32 Keras runner (``inference.inference_function``): what
            OpenVINO converts (its TensorFlow graph) and what its first float32 result must equal.
        precision: ``"bfloat16"`` asks OpenVINO for its own bfloat16 execution; ``"int8"``
            quantizes the converted model with NNCF on ``calibration`` first.
        calibration: preprocessed images (NHWC, as the model takes them), for int8.

    Returns:
        A ``Runner`` (engine ``"openvino"``; ``reference`` itself if OpenVINO cannot convert an
        operation of a float32 or bfloat16 model).

    Raises:
        MissingExtra: OpenVINO (or for int8, NNCF) is not installed.
        InvalidArgument: a bfloat16 model, a backend other than TensorFlow, int8 without
            calibration images, int8 of a model OpenVINO cannot convert.
        EngineMismatch: OpenVINO's float32 result differs from Keras's on the first batch.
    """
    openvino = import_openvino()
    precision = check_precision(precision or "float32")
    if model_precision(model) != "float32":
        raise InvalidArgument(
            f"the OpenVINO engine converts a float32 model; {model.name!r} computes in "
            f"{model_precision(model)} (ask OpenVINO for bfloat16 with precision='bfloat16')"
        )
    if keras.backend.backend() != "tensorflow":
        raise InvalidArgument("the OpenVINO engine converts through TensorFlow: use KERAS_BACKEND=tensorflow")
    if precision == "int8" and (calibration is None or not len(calibration)):
        raise InvalidArgument("int8 needs calibration images (calibration.calibration_images)")
    if precision == "int8":
        import_nncf()  # a missing extra is the user's to fix, not a conversion to fall back from
    from openvino import frontend

    try:
        converted = openvino.convert_model(reference.graph_function)
    except (frontend.OpConversionFailure, frontend.NotImplementedFailure, frontend.GeneralFailure) as e:
        # An operation OpenVINO cannot convert: float32 and bfloat16 fall back to Keras, said
        # in a note; int8 was asked for and cannot be given, so it is not silently float32.
        if precision == "int8":
            raise InvalidArgument(f"int8: OpenVINO could not convert {model.name} ({_first_line(e)})") from e
        log.warning("OpenVINO could not convert %s (%s); using the Keras engine", model.name, _first_line(e))
        return reference
    if precision == "int8":
        images = np.asarray(calibration, np.float32)
        converted = quantize(converted, [images[i : i + 1] for i in range(len(images))])
    compiled = compile_for_cpu(converted, precision)
    structure = model.output
    # OpenVINO names each output of a dict-output model after its key; others come in order.
    named = {name: o for o in compiled.outputs for name in o.get_names()}
    checked = precision in ("bfloat16", "int8")  # not float32: nothing to compare with

    def call(x):
        nonlocal checked
        x = np.asarray(x, np.float32)
        results = compiled(x)
        if isinstance(structure, dict):
            out = {key: np.asarray(results[named[key]]) for key in structure}
        else:
            flat = [np.asarray(results[output]) for output in compiled.outputs]
            out = keras.tree.pack_sequence_as(structure, flat)
        if not checked:
            _check(out, reference(x), model.name)
            checked = True
        return out

    return Runner(call, precision, "openvino")


def _check(ours, keras_out, name: str) -> None:
    for a, b in zip(keras.tree.flatten(ours), keras.tree.flatten(keras_out), strict=True):
        scale = max(1.0, float(np.abs(b).max()))
        diff = float(np.abs(a - b).max())
        if not diff <= TOLERANCE * scale:
            raise EngineMismatch(
                f"OpenVINO's float32 result for {name} differs from Keras's by {diff:.3g} "
                f"(tolerance {TOLERANCE:g} x {scale:.3g}); not used"
            )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
