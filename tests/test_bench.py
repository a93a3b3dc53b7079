"""The bench's arithmetic and its verdicts on the issue's targets (timings are not tested)."""

from __future__ import annotations

import pytest

from inception_v2.bench import FAST_PATH, SLIM, _paired_ratios, format_report, targets


def test_paired_ratios_cancel_drift():
    # The machine slows down by half in round 2; the port is 1.2x slim in every round.
    rates = {SLIM: [50.0, 25.0, 48.0], "port": [60.0, 30.0, 57.6]}
    ratios = _paired_ratios(rates, SLIM)
    assert ratios[SLIM] == 1.0
    assert ratios["port"] == pytest.approx(1.2)


def _report(fast_ratio: float, e2e: float, rss: tuple[float, float]) -> dict:
    throughput = {SLIM: 50.0, "inference fn": 55.0, FAST_PATH: 50.0 * fast_ratio}
    ratio = {SLIM: 1.0, "inference fn": 1.1, FAST_PATH: fast_ratio}
    return {
        "machine": {"cpus": 2},
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
            "float32": {
                "model_only_images_per_s": 50,
                "end_to_end_images_per_s": 50 * e2e,
                "end_to_end_over_model_only": e2e,
            },
            "fast": {
                "model_only_images_per_s": 140,
                "end_to_end_images_per_s": 140,
                "end_to_end_over_model_only": 1.0,
            },
        },
        "fast_path_agreement": {"images": 100, "top1_agreement": 0.99, "top5_contains_float32_top1": 1.0},
        "eval_peak_rss_mib": {"100": rss[0], "1000": rss[1]},
    }


def test_targets_met_and_missed():
    met = dict(targets(_report(fast_ratio=2.6, e2e=0.95, rss=(4000, 4100))))
    assert all(met.values()), met
    missed = [text for text, ok in targets(_report(fast_ratio=2.4, e2e=0.85, rss=(4000, 4800))) if not ok]
    assert len(missed) == 3
    assert any("fast path >= 2.5x" in m and "x2.40" in m for m in missed)
    assert any("eval float32 end to end" in m for m in missed)
    assert any("memory flat" in m for m in missed)


def test_format_report_shows_ratios_errors_and_verdicts():
    text = format_report(_report(fast_ratio=2.4, e2e=0.95, rss=(4000, 4000)))
    assert "x1.10" in text and "x2.40" in text
    assert "[jax] not measured: ModuleNotFoundError" in text
    assert "[MISSED] fast path >= 2.5x slim at batch 32: x2.40" in text
    assert "[met] float32 >= 1.0x slim at batch 32: x1.10 (inference fn)" in text
