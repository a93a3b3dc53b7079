"""OpenVINO as an engine: slim's numbers, Keras's numbers, and the guards around it."""

from __future__ import annotations

import ctypes
import gc
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from inception_v2 import InceptionV2, end_point_model
from inception_v2.cli import main
from inception_v2.data.labels import data_path
from inception_v2.inference.function import inference_function
from inception_v2.weights.slim_reference import slim_end_points, smooth_random_images

pytest.importorskip("openvino", reason="the [openvino] extra (installed by the test extras)")


@pytest.mark.parametrize(
    "size, depth_multiplier",
    [((224, 224), 1.0), ((225, 193), 0.25)],
    ids=["224", "225x193-thin"],  # odd sizes: SAME padding's extra pixel, whatever the width
)
@pytest.mark.slow
def test_openvino_equals_slim_and_keras(
    size, depth_multiplier, converted_1001, converted_thin, slim_checkpoints
):
    images = smooth_random_images(3, *size, np.random.default_rng(11))
    weights = converted_1001 if depth_multiplier == 1.0 else converted_thin
    model = InceptionV2(
        weights=str(weights),
        input_shape=(*size, 3),
        depth_multiplier=depth_multiplier,
        classifier_activation=None,
    )
    features = end_point_model(model, ["Mixed_4e", "Logits"])
    ours = inference_function(features, engine="openvino")
    assert (ours.engine, ours.precision) == ("openvino", "float32")
    out = ours(images)
    reference = slim_end_points(
        slim_checkpoints.path(depth_multiplier=depth_multiplier), images, depth_multiplier=depth_multiplier
    )
    assert np.abs(out["Logits"] - reference["Logits"]).max() <= 1e-4
    scale = np.abs(reference["Mixed_4e"]).max()
    assert np.abs(out["Mixed_4e"] - reference["Mixed_4e"]).max() <= 1e-4 * scale
    keras_out = inference_function(features)(images)
    assert np.abs(out["Logits"] - keras_out["Logits"]).max() <= 1e-4
    assert ours(images[:1])["Logits"].shape == (1, 1001)  # any batch size


def _small():
    return InceptionV2(input_shape=(64, 64, 3), depth_multiplier=0.25, classifier_activation=None)


@pytest.mark.slow
def test_openvino_bfloat16_is_asked_not_chosen():
    model = _small()
    images = smooth_random_images(2, 64, 64, np.random.default_rng(0))
    exact = inference_function(model, engine="openvino")(images)
    assert np.abs(exact - inference_function(model)(images)).max() <= 1e-4  # f32 pinned, even on AMX
    bf16 = inference_function(model, engine="openvino", precision="bfloat16")
    assert bf16.precision == "bfloat16" and bf16(images).shape == exact.shape


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "--weights", "unused"],
        ["predict", "--weights", "unused", "{image}"],  # an image that exists: paths come first
        ["bench", "--report", "{tmp}/bench.json"],
    ],
)
def test_missing_openvino_is_one_line(command, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    image = sorted(data_path("imagenet_val_sample").iterdir())[0]
    argv = [a.format(tmp=tmp_path, image=image) for a in command] + ["--engine", "openvino"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inception_v2[openvino]" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_conversion_failure_falls_back_with_a_notice(monkeypatch, caplog):
    """OpenVINO's own 'cannot convert' falls back to Keras for float32 and bfloat16, with a
    notice; for int8 it is refused (asked for int8, a float32 run would be a silent other
    thing); any other exception is a bug and propagates."""
    import openvino
    from openvino import frontend

    from inception_v2.errors import InvalidArgument

    def refuse(*args, **kwargs):
        raise frontend.OpConversionFailure("Cannot convert operation MyCustomLayer\nmore detail")

    monkeypatch.setattr(openvino, "convert_model", refuse)
    model = _small()
    with caplog.at_level(logging.WARNING, logger="inception_v2"):
        run = inference_function(model, engine="openvino")
    assert run.engine == "keras"
    notice = f"OpenVINO could not convert {model.name} (Cannot convert operation MyCustomLayer)"
    assert [r.getMessage() for r in caplog.records] == [notice + "; using the Keras engine"]
    images = smooth_random_images(1, 64, 64, np.random.default_rng(0))
    np.testing.assert_array_equal(run(images), inference_function(model)(images))
    with pytest.raises(InvalidArgument, match="int8: OpenVINO could not convert"):
        inference_function(model, engine="openvino", precision="int8", calibration=images)

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the conversion's caller")

    monkeypatch.setattr(openvino, "convert_model", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        inference_function(model, engine="openvino")


def test_a_result_that_differs_from_keras_is_refused(monkeypatch):
    from inception_v2.errors import InputError
    from inception_v2.inference import openvino as openvino_engine
    from inception_v2.inference.openvino import EngineMismatch

    assert not issubclass(EngineMismatch, InputError), "a bug, not bad input: it keeps its traceback"

    real = openvino_engine.runtime()

    class Off:  # a compiled model whose answer is 0.01 off
        def __init__(self, compiled):
            self.compiled, self.outputs = compiled, compiled.outputs

        def __call__(self, x):
            results = self.compiled(x)
            return {o: np.asarray(results[o]) + 0.01 for o in self.outputs}

    class Core:
        def compile_model(self, *args, **kwargs):
            return Off(real.compile_model(*args, **kwargs))

    monkeypatch.setattr(openvino_engine, "runtime", Core)
    run = inference_function(_small(), engine="openvino")
    with pytest.raises(EngineMismatch, match="differs from Keras's by 0.01"):
        run(smooth_random_images(1, 64, 64, np.random.default_rng(0)))


def test_fast_knows_the_hardware(monkeypatch):
    from inception_v2.inference import hardware

    here = hardware.cpu()  # this machine, read for real
    assert here.model and all(f in hardware.FLAGS for f in here.features)
    monkeypatch.setattr(hardware, "cpu", lambda: hardware.CPU("AMD EPYC 7B13", ("avx2",)))
    precision, engine, note = hardware.fast_plan()
    assert (precision, engine) == ("float32", "openvino")
    assert "no bfloat16 units" in note and "AMD EPYC 7B13" in note
    monkeypatch.setattr(hardware, "cpu", lambda: hardware.CPU("Intel Xeon", ("amx_bf16", "avx512f")))
    assert hardware.fast_plan() == ("bfloat16", "keras", "")
    assert hardware.fast_plan("openvino") == ("bfloat16", "openvino", "")


def test_every_end_point_comes_back_under_its_name():
    from inception_v2.model.architecture import END_POINTS

    features = end_point_model(_small(), [e for e in END_POINTS if e != "Predictions"])
    images = smooth_random_images(2, 64, 64, np.random.default_rng(3))
    ours, keras_out = (
        inference_function(features, engine="openvino")(images),
        inference_function(features)(images),
    )
    assert list(ours) == list(keras_out) and len(ours) == 16
    for name in keras_out:
        assert ours[name].shape == keras_out[name].shape, name
        assert np.abs(ours[name] - keras_out[name]).max() <= 1e-4 * max(1.0, np.abs(keras_out[name]).max())


# ----------------------------------------------------------------------------- one runtime per process


class _Stack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _alternate_signal_stack() -> _Stack:
    """This thread's alternate signal stack (``sigaltstack``)."""
    stack = _Stack()
    assert ctypes.CDLL(None, use_errno=True).sigaltstack(None, ctypes.byref(stack)) == 0
    return stack


def _stack_is_usable(stack: _Stack) -> bool:
    """Disabled, or inside memory this process has mapped: a signal can be handled on it."""
    if stack.ss_flags & 2:  # SS_DISABLE
        return True
    start = stack.ss_sp or 0
    for line in Path("/proc/self/maps").read_text().splitlines():
        low, high = (int(x, 16) for x in line.split()[0].split("-"))
        if low <= start and start + stack.ss_size <= high:
            return True
    return False


def _two_made_and_freed_in_order(make) -> bool:
    """Make two OpenVINO runners, free the first then the second (gc in between, as a test
    or a command drops them); whether this thread's alternate signal stack is still usable.
    The stack found before is put back whatever happened, so this process goes on safely."""
    before = _alternate_signal_stack()
    try:
        first = make()
        second = make()
        del first
        gc.collect()
        del second
        gc.collect()
        return _stack_is_usable(_alternate_signal_stack())
    finally:
        assert ctypes.CDLL(None, use_errno=True).sigaltstack(ctypes.byref(before), None) == 0


@pytest.mark.skipif(sys.platform != "linux", reason="OpenVINO's alternate signal stack is Linux's")
def test_runners_leave_a_usable_signal_stack():
    """OpenVINO's CPU plugin gives the thread using a Core an alternate signal stack and puts
    back the one it found when that Core is freed: two Cores freed in the order they were made
    leave the thread on freed memory, and the next Ctrl-C is a SIGSEGV (seen: eval and predict
    of a saved int8 model after an in-memory quantization). The library makes one Core."""
    import openvino

    from inception_v2.inference.openvino import runtime

    images = smooth_random_images(1, 64, 64, np.random.default_rng(0))
    model = _small()

    def own_core():  # the negative control: what a Core per model does
        core = openvino.Core()
        compiled = core.compile_model(openvino.convert_model(inference_function(model).graph_function), "CPU")
        compiled(images)
        return core, compiled

    def runner():
        run = inference_function(model, engine="openvino")
        run(images)
        return run

    assert not _two_made_and_freed_in_order(own_core), "OpenVINO no longer leaves a freed stack behind"
    assert runtime() is runtime()
    assert _two_made_and_freed_in_order(runner)
