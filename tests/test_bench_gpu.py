"""scripts/bench_gpu.py runs without TensorFlow's help in its children and reports TFLOP/s."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_gpu.py"


def test_bench_gpu_smoke(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    bench_gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_gpu)
    out = tmp_path / "gpu.json"
    argv = [
        "--backends",
        "jax",
        "--batches",
        "1",
        "--dtypes",
        "float32",
        "--seconds",
        "0.1",
        "--json",
        str(out),
    ]
    assert bench_gpu.main(argv) == 0
    (result,) = json.loads(out.read_text())
    assert result["backend"] == "jax" and "error" not in result
    (row,) = result["rows"]
    assert row["dtype"] == "float32" and row["batch"] == 1 and row["images_per_s"] > 0
    assert abs(row["tflops"] - row["images_per_s"] * 3.87e-3) < 1e-9
    assert "[jax backend on" in capsys.readouterr().out
    assert bench_gpu.peak_for("NVIDIA H100 80GB HBM3") == {"bfloat16": 989.4, "float32": 494.7}
    assert bench_gpu.peak_for("cpu") is None
