"""``inception-v2 bench``: the Keras port against tf_slim's graph, in one run, one machine.

The stages live in their own modules (``speed``, ``agreement``,
``pipeline``); this one runs them in order and formats the report. Weights are a
random checkpoint that tf_slim builds: speed does not depend on their values.
"""

from __future__ import annotations

import itertools
import logging
import os
import platform
import tempfile
from pathlib import Path

from inception_v2.bench.agreement import fast_path_agreement
from inception_v2.bench.pipeline import eval_peak_memory, pipeline_and_eval, run_worker
from inception_v2.bench.speed import (
    BACKENDS,
    BATCHES,
    FAST_PATH,
    SAVED_INT8,
    SLIM,
    bench_backend,
    check_backends,
    engines_to_time,
)
from inception_v2.model.architecture import GFLOP_PER_IMAGE

__all__ = ["BACKENDS", "BATCHES", "FAST_PATH", "QUICK", "SLIM", "check_backends", "engines_to_time"]
__all__ += ["format_report", "machine", "run"]
log = logging.getLogger("inception_v2")

#: What ``quick`` measures: every stage once, small (a smoke run, not numbers to quote).
QUICK = {"batches": (1, 8), "backends": ("tensorflow",), "rounds": 1, "seconds": 0.5}


def _other_backend(
    backend: str, weights: str, batches: list[int], rounds: int, seconds: float, torch_compile: bool = False
) -> dict:
    """``bench_backend`` under another Keras backend (fixed at import, hence a process)."""
    arguments = {"weights": weights, "batches": batches, "rounds": rounds, "seconds": seconds}
    result, last_error = run_worker(
        "backend", {**arguments, "torch_compile": torch_compile}, {**os.environ, "KERAS_BACKEND": backend}
    )
    return result or {"backend": backend, "error": last_error}


def machine() -> dict:
    """What the numbers were measured on, and an estimate of the CPU's float32 peak."""
    from inception_v2.inference.hardware import cpu

    here = cpu()
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    info.update(cpu=here.model, features=list(here.features), bfloat16_units=here.bfloat16_units)
    info.update(
        vendor=here.vendor, family=here.family, model_number=here.model_number, int8_units=here.int8_units
    )
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        mhz = [float(s.split(":", 1)[1]) for s in cpuinfo if s.startswith("cpu MHz")]
        if mhz:  # at the clock the OS reports (a boost clock would be higher)
            per_cycle = here.fp32_flops_per_cycle
            info["fp32_peak_gflops_estimate"] = round(os.cpu_count() * per_cycle * max(mhz) / 1000, 1)
    except (OSError, ValueError):
        pass
    return info


def run(
    batches: tuple[int, ...] = BATCHES,
    rounds: int = 3,
    seconds: float = 3.0,
    backends: tuple[str, ...] = BACKENDS,
    quick: bool = False,
    torch_compile: bool = False,
    engine: str | None = None,
    saved_int8: str | None = None,
    exports: bool = False,
) -> dict:
    """The whole benchmark; returns the report (``format_report`` makes it a table).

    Each stage is logged (logger ``inception_v2``) as it starts, so a long run shows where it is.

    Args:
        batches, rounds, seconds: batch sizes; interleaved rounds and minimum seconds per
            measurement.
        backends: Keras backends to time (others than TensorFlow in a subprocess each).
        quick: one short round and small samples at every stage (``QUICK``): a smoke run.
        torch_compile: also time ``torch.compile`` on the PyTorch backend.
        engine: time only ``"keras"`` or only ``"openvino"`` (with slim's graph); by default
            every engine installed. Other Keras backends are timed with the Keras engine only.
        saved_int8: a model saved by ``inception-v2 quantize``, raced beside the others on the
            TensorFlow backend as eval and predict run it (no recalibration).
        exports: also race the weights exported in every format, each on its own runtime and
            fed what its client sends (``speed.served_contenders``).

    Returns:
        The report: machine, engines, converter time, per-backend throughput and ratios,
        reduced-precision agreement, input pipeline and eval, eval peak memory.
    """
    from inception_v2.weights.convert import convert_checkpoint
    from inception_v2.weights.slim_reference import random_slim_variables, save_slim_variables

    engines = engines_to_time(engine)
    check_backends(backends)
    if quick:
        rounds, seconds = QUICK["rounds"], QUICK["seconds"]
    others = [b for b in backends if b != "tensorflow" and "keras" in engines]
    numbers, total = itertools.count(1), 5 + len(others)

    def stage(text: str) -> None:
        log.info("bench %d/%d: %s", next(numbers), total, text)

    with tempfile.TemporaryDirectory() as tmp:
        stage("a random slim checkpoint, converted (timed)")
        checkpoint = save_slim_variables(
            random_slim_variables(calibration_batch=2), str(Path(tmp) / "inception_v2.ckpt"), "V1"
        )
        weights = str(Path(tmp) / "inception_v2.weights.h5")
        conversion = convert_checkpoint(checkpoint, weights)  # timed by the converter itself
        report = {"machine": machine(), "engines": list(engines), "converter_seconds": conversion.seconds}
        if saved_int8:
            report["saved_int8"] = str(saved_int8)
        stage(f"tensorflow backend against slim's graph, batches {', '.join(map(str, batches))}")
        report["backends"] = [
            bench_backend(
                weights,
                list(batches),
                rounds,
                seconds,
                checkpoint,
                engines=engines,
                saved_int8=saved_int8,
                exports=Path(tmp) / "exports" if exports else None,
            )
        ]
        for backend in others:
            stage(f"{backend} backend (a subprocess)")
            report["backends"].append(
                _other_backend(backend, weights, list(batches), rounds, seconds, torch_compile)
            )
        stage("reduced precisions against float32 on real images")
        report["fast_path_agreement"] = fast_path_agreement(
            images_count=16 if quick else 100, engines=engines
        )
        stage("input pipeline and eval end to end")
        report["pipeline"] = pipeline_and_eval(
            weights, images=64 if quick else 400, rounds=rounds, engines=engines
        )
        stage("eval peak memory (subprocesses)")
        report["eval_peak_rss_mib"] = eval_peak_memory(weights, (20, 100) if quick else (100, 1000))
    return report


def _cpu_identity(m: dict) -> str:
    """`` (GenuineIntel family 6 model 143)``: what names a CPU whose model name is generic."""
    if not m.get("vendor"):
        return ""
    return f" ({m['vendor']} family {m.get('family', '?')} model {m.get('model_number', '?')})"


def format_report(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m.get('cpu', '?')}{_cpu_identity(m)}, {m['cpus']} CPUs; "
        f"{', '.join(m.get('features', [])) or 'no AVX2'}; "
        f"bfloat16 units: {'yes' if m.get('bfloat16_units') else 'no'}; "
        f"int8 units: {m.get('int8_units') or 'none'}; "
        f"fp32 peak ~{m.get('fp32_peak_gflops_estimate', '?')} GFLOP/s"
    ]
    tf_result = report["backends"][0]
    slim = {b: r.get(SLIM) for b, r in tf_result["throughput"].items()}
    for result in report["backends"]:
        if "error" in result:
            lines.append(f"\n[{result['backend']}] not measured: {result['error']}")
            continue
        paired = bool(result.get("ratio"))
        how = "median of per-round ratios" if paired else "ratio to the TF run's slim medians"
        lines.append(
            f"\n[{result['backend']} backend] images/s (x slim's graph at the same batch, {how}; GFLOP/s)"
        )
        batches = list(result["throughput"])
        names = list(result["throughput"][batches[0]])
        width = max(len(n) for n in names) + 2
        lines.append(f"  {'':<{width}}" + "".join(f"{'batch ' + b:>26}" for b in batches))
        for name in names:
            cells = []
            for b in batches:
                rate = result["throughput"][b][name]
                if paired:
                    ratio = f"x{result['ratio'][b][name]:.2f}"
                else:
                    ratio = f"x{rate / slim[b]:.2f}" if slim.get(b) else ""
                cells.append(f"{rate:8.1f} {ratio:>6} {rate * GFLOP_PER_IMAGE:6.0f}GF")
            lines.append(f"  {name:<{width}}" + "".join(f"{c:>26}" for c in cells))
        if result.get("latency_ms_batch1"):
            best = min(result["latency_ms_batch1"].items(), key=lambda kv: kv[1])
            lines.append(f"  latency at batch 1: best {best[1]:.1f} ms ({best[0]})")
    p = report["pipeline"]
    lines.append(
        f"\ninput pipeline alone (decode + slim's eval preprocessing): "
        f"{p['pipeline_images_per_s']:.0f} images/s"
    )
    for label, e in p["eval"].items():
        rounds = e.get("end_to_end_over_model_only_by_round", [])
        spread = f", rounds x{min(rounds):.2f}-{max(rounds):.2f}" if len(rounds) > 1 else ""
        lines.append(
            f"eval {label:<16}: model alone {e['model_only_images_per_s']:.1f}, end to end "
            f"{e['end_to_end_images_per_s']:.1f} images/s (x{e['end_to_end_over_model_only']:.2f}{spread}), "
            f"{p['images']} real JPEGs, batch {p['batch']}"
        )
    a = report["fast_path_agreement"]
    lines.append(
        f"reduced precision vs float32 on {a['images']} real images ({a['distinct_top1']} distinct top-1 "
        f"classes, median top-1/top-2 margin {a['median_top1_margin']:.3g} logits, "
        f"{a.get('images_with_margin_ge_1', '?')} with a lead >= 1 logit):"
    )
    for name, r in a["paths"].items():
        worst = max(r["max_relative_error"].items(), key=lambda kv: kv[1])
        clear = r.get("top1_agreement_where_margin_ge_1")
        clear = f" ({100 * clear:.1f}% where the lead >= 1 logit)" if clear is not None else ""
        lines.append(
            f"  {name}: top-1 agreement {100 * r['top1_agreement']:.1f}%{clear}, float32 top-1 in its "
            f"top-5 {100 * r['top5_contains_float32_top1']:.1f}%, max relative error {worst[1]:.2e} "
            f"({worst[0]}), max logit error / spread {r.get('max_logit_error_over_spread', float('nan')):.2g}"
        )
    mem = report["eval_peak_rss_mib"]
    lines.append("eval peak RSS: " + ", ".join(f"{n} images {v:.0f} MiB" for n, v in mem.items()))
    lines.append(f"converter: {report['converter_seconds']:.1f} s")
    if report.get("saved_int8"):
        lines.append(f"{SAVED_INT8}: {report['saved_int8']}")
    return "\n".join(lines)
