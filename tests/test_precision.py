"""True float32 by default on every backend, set only for the call and restored after it.

On this CPU machine TF32 itself cannot run, so what is tested is the setting each framework
reads: a layer records it while the forward pass runs (at trace time for TensorFlow and
JAX, on every call for PyTorch), and the user's own setting must be back afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.math_state import check_float32_during_the_call, float32_math_state

from inception_v2.cli import main
from inception_v2.precision import PRECISIONS, check_precision, float32_math

HELPERS = Path(__file__).parent / "helpers"

RECORD_DURING_CALL = """
import sys, keras
sys.path.insert(0, sys.argv[2])
from math_state import check_float32_during_the_call
assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
check_float32_during_the_call()
print("OK")
"""


@pytest.mark.parametrize(
    "backend",
    # This process's backend runs here; each other one in a process of its own (slow).
    [
        "tensorflow",
        pytest.param("jax", marks=pytest.mark.slow),
        pytest.param("torch", marks=pytest.mark.slow),
    ],
)
def test_float32_during_the_call_and_restored_after(backend):
    import keras

    if backend == keras.backend.backend():
        check_float32_during_the_call()
        return
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", RECORD_DURING_CALL, backend, str(HELPERS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stderr[-3000:]


def test_context_restores_after_an_error():
    before = float32_math_state()
    with pytest.raises(RuntimeError), float32_math("float32"):
        assert float32_math_state() == "float32"
        raise RuntimeError("inside")
    assert float32_math_state() == before


def test_unknown_precision_names_the_valid_ones(capsys):
    assert check_precision("tf32") == "tf32"
    with pytest.raises(ValueError, match="float32, tf32, bfloat16"):
        check_precision("fp16")
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--precision", "fp16"])
    assert exit_.value.code == 2
    assert "float32" in capsys.readouterr().err


def test_precision_must_fit_the_model():
    from inception_v2 import FAST_INFERENCE, InceptionV2
    from inception_v2.inference.function import inference_function

    small = dict(input_shape=(64, 64, 3), include_top=False, depth_multiplier=0.25)
    plain = InceptionV2(**small)
    fast = InceptionV2(**small, **FAST_INFERENCE)
    assert inference_function(plain).precision == "float32"
    assert inference_function(fast).precision == "bfloat16"
    with pytest.raises(ValueError, match="computes in float32"):
        inference_function(plain, precision="bfloat16")
    with pytest.raises(ValueError, match="computes in bfloat16"):
        inference_function(fast, precision="float32")
    images = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    out = inference_function(plain, precision="tf32")(images)
    # on a CPU, TF32 allowed is float32 all the same (no TF32 units): the same numbers, exactly
    np.testing.assert_array_equal(out, inference_function(plain)(images))
    assert set(PRECISIONS) == {"float32", "tf32", "bfloat16", "int8"}
    with pytest.raises(ValueError, match="int8 runs on the openvino engine"):
        inference_function(plain, precision="int8")
