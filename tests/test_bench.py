"""The bench's arithmetic and report, and the project's targets script (timings are not tested)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from inception_v2.bench.race import FAST_PATH, SLIM, format_report
from inception_v2.bench.speed import INT8, _paired_ratios


def _targets_script():
    path = Path(__file__).parents[1] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("project_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


targets = _targets_script().targets


def test_paired_ratios_cancel_drift():
    # The machine slows down by half in round 2; the port is 1.2x slim in every round.
    rates = {SLIM: [50.0, 25.0, 48.0], "port": [60.0, 30.0, 57.6]}
    ratios = _paired_ratios(rates, SLIM)
    assert ratios[SLIM] == 1.0
    assert ratios["port"] == pytest.approx(1.2)


def _report(fast_ratio: float, e2e: float, rss: tuple[float, float], float32_ratio: float = 1.3) -> dict:
    throughput = {SLIM: 50.0, "openvino, float32": 50 * float32_ratio, FAST_PATH: 50.0 * fast_ratio}
    ratio = {SLIM: 1.0, "openvino, float32": float32_ratio, FAST_PATH: fast_ratio}
    return {
        "machine": {
            "cpus": 2,
            "cpu": "Some CPU",
            "features": ["avx512_bf16", "avx2"],
            "bfloat16_units": True,
        },
        "converter_seconds": 2.5,
        "backends": [
            {
                "backend": "tensorflow",
                "throughput": {"1": throughput, "32": throughput},
                "ratio": {"1": ratio, "32": ratio},
                "latency_ms_batch1": {k: 1000 / v for k, v in throughput.items()},
            },
            {"backend": "jax", "error": "ModuleNotFoundError: No module named 'jax'"},
        ],
        "pipeline": {
            "images": 400,
            "batch": 32,
            "pipeline_images_per_s": 900.0,
            "eval": {
                "float32": {
                    "model_only_images_per_s": 50,
                    "end_to_end_images_per_s": 50 * e2e,
                    "end_to_end_over_model_only": e2e,
                    "end_to_end_over_model_only_by_round": [e2e - 0.1, e2e, e2e + 0.02],
                },
                "fast": {
                    "model_only_images_per_s": 140,
                    "end_to_end_images_per_s": 140,
                    "end_to_end_over_model_only": 1.0,
                },
            },
        },
        "fast_path_agreement": {
            "images": 100,
            "distinct_top1": 61,
            "median_top1_margin": 0.2,
            "paths": {
                FAST_PATH: {
                    "top1_agreement": 0.81,
                    "top5_contains_float32_top1": 0.99,
                    "max_relative_error": {"Mixed_3b": 0.004, "Logits": 0.02},
                }
            },
        },
        "eval_peak_rss_mib": {"100": rss[0], "1000": rss[1]},
    }


def test_targets_met_and_missed():
    met = dict(targets(_report(fast_ratio=4.2, e2e=0.95, rss=(4000, 4100))))
    assert all(met.values()), met
    report = _report(fast_ratio=3.6, e2e=0.85, rss=(4000, 4800), float32_ratio=1.1)
    missed = [text for text, ok in targets(report) if not ok]
    assert len(missed) == 5, missed
    assert any("fast path >= 4x" in m and "x3.60" in m for m in missed)
    assert any("float32 >= 1.2x slim at batch 1: x1.10 (openvino, float32)" in m for m in missed)
    assert any("eval float32 end to end" in m for m in missed)
    assert any("memory flat" in m for m in missed)
    assert "float32 >= 1.2x slim at batch 32: x1.10 (openvino, float32)" in missed
    report["machine"]["bfloat16_units"] = False  # no bfloat16 units: no bfloat16 target
    assert not any("fast path" in text for text, _ in targets(report))


def test_format_report_shows_cpu_ratios_agreement_and_verdicts():
    text = format_report(_report(fast_ratio=3.6, e2e=0.95, rss=(4000, 4000)))
    assert "machine: Some CPU, 2 CPUs; avx512_bf16, avx2; bfloat16 units: yes; int8 units: none" in text
    report = _report(fast_ratio=3.6, e2e=0.95, rss=(4000, 4000))
    report["machine"].update(vendor="GenuineIntel", family=6, model_number=143, int8_units="AMX")
    named = format_report(report)
    assert "machine: Some CPU (GenuineIntel family 6 model 143), 2 CPUs;" in named
    assert "int8 units: AMX;" in named
    assert "x1.30" in text and "x3.60" in text
    assert "[jax] not measured: ModuleNotFoundError" in text
    assert "targets" not in text and "MISSED" not in text  # the library reports; the project judges
    assert "61 distinct top-1 classes" in text and "top-1 agreement 81.0%" in text
    assert "max relative error 2.00e-02 (Logits)" in text
    assert "(x0.95, rounds x0.85-0.97)" in text  # the spread beside the median


def test_fp32_peak_per_cycle_knows_double_pumped_avx512():
    from inception_v2.inference.hardware import CPU

    zen4 = CPU("AMD EPYC", ("avx512_bf16", "avx512f", "avx2"), "AuthenticAMD", 25)
    zen5 = CPU("AMD EPYC", ("avx512_bf16", "avx512f", "avx2"), "AuthenticAMD", 26)
    xeon = CPU("Intel Xeon", ("amx_bf16", "avx512f", "avx2"), "GenuineIntel", 6)
    assert [c.fp32_flops_per_cycle for c in (zen4, zen5, xeon)] == [32, 64, 64]
    assert [c.int8_units for c in (zen4, xeon)] == ["", ""]
    assert CPU("Intel Xeon", ("amx_int8", "avx512_vnni", "avx2")).int8_units == "AMX"
    assert CPU("AMD EPYC", ("avx512_vnni", "avx_vnni", "avx2")).int8_units == "AVX512-VNNI"
    assert CPU("Intel Core", ("avx_vnni", "avx2")).int8_units == "AVX-VNNI"
    assert CPU("AMD EPYC 7B13", ("avx2",), "AuthenticAMD", 25).fp32_flops_per_cycle == 32
    assert CPU("old", ()).fp32_flops_per_cycle == 16


@pytest.mark.slow
def test_workers_answer_in_json(converted_thin):
    """bench's child processes: eval's own peak memory, another backend's race (on the thin
    network: the contenders are what the weights' shapes imply), a failure's last line."""
    from inception_v2.bench.pipeline import run_worker

    argv = ["eval", "--weights", str(converted_thin), "--limit", "4", "--quiet"]
    result, _ = run_worker("eval-memory", argv)
    assert result["peak_rss_kib"] > 100 * 1024, "an eval process holds the model: over 100 MiB"
    race = {"weights": str(converted_thin), "batches": [2], "rounds": 1, "seconds": 0.01}
    result, _ = run_worker("backend", race, {**os.environ, "KERAS_BACKEND": "torch"})
    assert result["backend"] == "torch" and result["throughput"]["2"][FAST_PATH] > 0
    assert result["ratio"] == {}, "no slim graph in another backend's process"
    result, last = run_worker("no-such-job", {})  # a failure: no result, its last line kept
    assert result is None and last == "bench_worker: unknown job 'no-such-job'"


def test_int8_targets_against_slims_float32():
    report = _report(fast_ratio=4.2, e2e=0.95, rss=(4000, 4100))
    tf_result = report["backends"][0]
    tf_result["ratio"]["1"] = {**tf_result["ratio"]["1"], INT8: 3.2}
    tf_result["ratio"]["32"] = {**tf_result["ratio"]["32"], INT8: 3.5}
    verdicts = dict(targets(report))
    assert verdicts["int8 >= 3x slim at batch 1: x3.20"] is True
    assert verdicts["int8 >= 4x slim at batch 32: x3.50"] is False
    assert not any("int8" in text for text, _ in targets(_report(fast_ratio=4.2, e2e=0.95, rss=(1, 1))))
    report["machine"]["int8_units"] = "AMX"  # the verdict names the units it was measured on
    assert dict(targets(report))["int8 >= 4x slim at batch 32 (AMX): x3.50"] is False


@pytest.mark.slow
def test_fast_path_agreement_on_live_weights():
    """The bench's agreement measure, on 4 images: live weights make the top-1 classes vary, and
    bfloat16 moves every end point after the stem by a share of float32's largest value."""
    from inception_v2.bench.agreement import fast_path_agreement

    report = fast_path_agreement(images_count=4, engines=("keras",))
    assert report["images"] == 4 and report["distinct_top1"] >= 2
    ((name, path),) = report["paths"].items()
    assert "bf16" in name and path["top1_agreement"] in {0.0, 0.25, 0.5, 0.75, 1.0}, "a share of 4 images"
    errors = path["max_relative_error"]
    assert 0 < errors["Logits"] < 1 and all(0 <= e < 1 for e in errors.values())


def test_pipeline_rate_is_timed_after_a_warm_pass():
    """The input pipeline's rate skips its first pass (tracing, file cache) and takes the
    median of the others; every pass reads every image of the folder."""
    from inception_v2.bench.pipeline import _pipeline_rate
    from inception_v2.data.sources import open_data

    class Counted:
        def __init__(self, data):
            self.data, self.passes, self.images = data, 0, []

        def batches(self, batch):
            self.passes += 1
            count = 0
            for b in self.data.batches(batch):
                count += int(b["label"].shape[0])
                yield b
            self.images.append(count)

    data = Counted(open_data(None))
    rate = _pipeline_rate(data, batch=50, rounds=2)
    assert data.passes == 3 and data.images == [100, 100, 100]
    assert 0 < rate < float("inf")
