#!/usr/bin/env python3
"""The project's benchmark: ``inception-v2 bench``, then the project's own speed targets.

The library's bench measures and reports; whether a figure meets a goal the project set
itself (float32 >= 1.2x slim's graph, the bfloat16 path >= 4x on a CPU with bfloat16
units, int8 >= 3x at batch 1 and 4x at batch 32, eval end to end >= 0.9x the model alone,
converter < 5 s, flat eval memory) is the
project's business, so the verdicts live here. Same options as ``inception-v2 bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from inception_v2.bench.race import FAST_PATH
from inception_v2.bench.speed import INT8
from inception_v2.cli import main

#: The bench's contenders that compute slim's float32 (within 1e-4): the float32 target's candidates.
FLOAT32_EXACT = ("inference fn", "inference fn, folded BN", "openvino, float32", "keras predict")


def targets(report: dict) -> list[tuple[str, bool]]:
    """Each target as (what was measured, whether it is met)."""
    tf_result = report["backends"][0]
    ratios = tf_result.get("ratio", {})
    checks = []
    exact = [k for k in FLOAT32_EXACT if k in ratios.get("1", ratios.get("32", {}))]
    for batch in ("1", "32"):
        if batch in ratios and exact:
            best, ratio = max(((k, ratios[batch][k]) for k in exact), key=lambda kv: kv[1])
            checks.append((f"float32 >= 1.2x slim at batch {batch}: x{ratio:.2f} ({best})", ratio >= 1.2))
    fast = [k for k in (FAST_PATH, "openvino, bf16") if k in ratios.get("32", {})]
    if fast and report["machine"].get("bfloat16_units"):
        best, ratio = max(((k, ratios["32"][k]) for k in fast), key=lambda kv: kv[1])
        checks.append(
            (f"fast path >= 4x slim at batch 32 (bfloat16 units): x{ratio:.2f} ({best})", ratio >= 4)
        )
    units = report["machine"].get("int8_units")
    for batch, goal in (("1", 3.0), ("32", 4.0)):  # int8 on OpenVINO (VNNI, AMX), against slim's float32
        if INT8 in ratios.get(batch, {}):
            ratio = ratios[batch][INT8]
            on = f" ({units})" if units else ""
            checks.append((f"int8 >= {goal:g}x slim at batch {batch}{on}: x{ratio:.2f}", ratio >= goal))
    for label, e in report["pipeline"]["eval"].items():
        ratio = e["end_to_end_over_model_only"]
        checks.append((f"eval {label} end to end >= 0.9x model alone: x{ratio:.2f}", ratio >= 0.9))
    checks.append((f"converter < 5 s: {report['converter_seconds']:.1f} s", report["converter_seconds"] < 5))
    mem = list(report["eval_peak_rss_mib"].values())
    growth = max(mem) / min(mem)
    checks.append((f"eval peak memory flat in N (within 10%): x{growth:.2f}", growth <= 1.1))
    return checks


def run(argv: list[str]) -> int:
    """``inception-v2 bench`` with ``argv``, then the targets judged on its report."""
    import tempfile

    options, _ = _report_option().parse_known_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report_path = options.report or str(Path(tmp) / "bench.json")
        extra = [] if options.report else ["--report", report_path]
        status = main(["bench", *argv, *extra], standalone=True)
        if status != 0:
            return status
        report = json.loads(Path(report_path).read_text())
    lines = ["targets:"] + [f"  [{'met' if ok else 'MISSED'}] {text}" for text, ok in targets(report)]
    # After a --json report on stdout, the verdicts go to stderr so stdout stays JSON.
    print("\n".join(lines), file=sys.stderr if options.json else sys.stdout)
    return 0


def _report_option() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--report", default=None)
    parser.add_argument("--json", action="store_true")
    return parser


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
