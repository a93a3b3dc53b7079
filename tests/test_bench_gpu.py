"""scripts/bench_gpu.py: runs without TensorFlow in its children, prints rows as it goes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inception_v2.model.flops import multiply_adds
from inception_v2.model.network import build_inception_v2, image_shape

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_gpu.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    bench_gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_gpu)
    return bench_gpu


@pytest.mark.slow
def test_bench_gpu_smoke(tmp_path, capsys):
    bench_gpu = _load()
    out = tmp_path / "gpu.json"
    # PyTorch: the backend of GPU machines that runs eagerly, so no minute of CPU compiling here.
    argv = ["--backends", "torch", "--batches", "2", "--precisions", "float32,bfloat16", "--seconds", "0.1"]
    argv += ["--image-size", "64", "--depth-multiplier", "0.25", "--fidelity-images", "6", "--json", str(out)]
    argv += ["--budget", "1e9"]  # no budget: every row runs however busy this machine is
    assert bench_gpu.main(argv) == 0
    rows = json.loads(out.read_text())
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    assert "error" not in by_kind and "stopped" not in by_kind, rows
    (reference,) = by_kind["reference"]
    assert reference["images"] == 6 and reference["distinct_top1"] >= 3, "live weights: predictions vary"
    fidelity = {r["precision"]: r for r in by_kind["fidelity"]}
    assert fidelity["float32"]["max_abs_diff"] < 1e-4 and fidelity["float32"]["top1_agree"] == 1.0
    assert 1e-4 < fidelity["bfloat16"]["max_abs_diff"] < 1.0  # bfloat16 is measurably not float32
    speed = {r["precision"]: r for r in by_kind["speed"]}
    assert speed["float32"]["batch"] == 2 and speed["float32"]["images_per_s"] > 0
    # FLOP/s count the network that ran: 64x64 images, a quarter of the channels.
    thin = build_inception_v2(input_shape=image_shape(64, 64), depth_multiplier=0.25, fold_batch_norm=True)
    assert speed["float32"]["gflop_per_image"] == 2 * multiply_adds(thin) / 1e9
    assert (
        speed["float32"]["tflops"]
        == speed["float32"]["images_per_s"] * speed["float32"]["gflop_per_image"] / 1000
    )
    printed = capsys.readouterr().out
    assert "[torch fidelity] float32" in printed and "[torch speed] bfloat16" in printed


def test_budget_skips_what_does_not_fit(tmp_path, capsys):
    bench_gpu = _load()
    argv = [
        "--backends",
        "jax",
        "--fidelity-images",
        "0",
        "--budget",
        "0",
        "--json",
        str(tmp_path / "g.json"),
    ]
    assert bench_gpu.main(argv) == 0
    rows = json.loads((tmp_path / "g.json").read_text())
    assert {r["kind"] for r in rows} == {"device", "skipped"}
    assert "skipped" in capsys.readouterr().out


def test_ctrl_c_keeps_the_rows_measured(tmp_path, capsys, monkeypatch):
    """One line, exit 130, every row measured until then in --json (run_child stops the child)."""
    bench_gpu = _load()

    def one_row_then_ctrl_c(backend, settings, report):
        report({"backend": backend, "job": settings["job"], "kind": "device", "name": "cpu"})
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_gpu, "run_child", one_row_then_ctrl_c)
    out = tmp_path / "g.json"
    assert bench_gpu.main(["--backends", "torch", "--fidelity-images", "0", "--json", str(out)]) == 130
    assert [row["kind"] for row in json.loads(out.read_text())] == ["device"]
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"], "no temporary file left"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bench_gpu: interrupted; the rows measured so far (1) are in {out}"]


def test_an_existing_report_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    bench_gpu = _load()
    monkeypatch.setattr(bench_gpu, "run_child", lambda *args: pytest.fail("worked before refusing"))
    out = tmp_path / "g.json"
    out.write_text("mine")
    assert bench_gpu.main(["--fidelity-images", "0", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"bench_gpu: error: {out}: already exists; add --overwrite to replace it"]
    assert out.read_text() == "mine" and [p.name for p in tmp_path.iterdir()] == ["g.json"]
    calls = []
    monkeypatch.setattr(bench_gpu, "run_child", lambda backend, settings, report: calls.append(backend))
    assert (
        bench_gpu.main(["--backends", "jax", "--fidelity-images", "0", "--json", str(out), "--overwrite"])
        == 0
    )
    assert calls == ["jax"] and json.loads(out.read_text()) == []


def test_a_closed_stdout_ends_quietly_and_keeps_the_rows(tmp_path):
    """`bench_gpu.py | head`: the reader gone before the first row is printed; exit 141, nothing
    on stderr, the row in --json. Its own process: stdout is the pipe's closed end."""
    out = tmp_path / "g.json"
    code = (
        "import sys, importlib.util; "
        f"spec = importlib.util.spec_from_file_location('bench_gpu', {str(SCRIPT)!r}); "
        "bench_gpu = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench_gpu); "
        "bench_gpu.run_child = lambda backend, settings, report: report("
        "{'backend': backend, 'job': settings['job'], 'kind': 'device', 'name': 'cpu'}); "
        f"sys.exit(bench_gpu.main(['--backends', 'torch', '--fidelity-images', '0', '--json', {str(out)!r}]))"
    )
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr[-3000:]
    assert [row["kind"] for row in json.loads(out.read_text())] == ["device"]


def test_peaks():
    bench_gpu = _load()
    assert bench_gpu.peak_for("NVIDIA H100 80GB HBM3")["bfloat16"] == 989.4
    assert bench_gpu.peak_for("cpu") is None
