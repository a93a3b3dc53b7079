"""The bench's data side: input pipeline vs model vs eval end to end, and eval's peak memory."""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from inception_v2.bench.speed import INT8_CALIBRATION, images_per_second


def run_worker(job: str, arguments: dict | list, env: dict | None = None) -> tuple[dict | None, str]:
    """Run ``worker``'s ``job`` in a fresh interpreter.

    Returns:
        (its JSON result, or None where it failed; the last line of its stderr).
    """
    command = [sys.executable, "-m", "inception_v2.bench.worker", job, json.dumps(arguments)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    last = (done.stderr.strip().splitlines() or ["?"])[-1]
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, last
    return json.loads(lines[-1]), last


def pipeline_and_eval(
    weights: str, images: int = 400, batch: int = 32, rounds: int = 3, engines: tuple[str, ...] = ("keras",)
) -> dict:
    """Input pipeline alone vs model alone vs end-to-end eval, on real JPEGs.

    ``{"images", "batch", "pipeline_images_per_s", "eval": {run: figures}}`` (the pipeline's rate:
    median of ``rounds`` passes after a warm one), a run per engine
    for the float32 model ``eval`` runs by default and for what ``--fast`` runs on this CPU
    (``hardware.fast_plan``; keyed ``"float32"``, ``"fast"``, then ``"openvino float32"``,
    ``"openvino fast"``). Eval
    throughput is that of ``evaluate`` (after its first batch); model-only that of the same
    inference function on a fixed batch, timed just before each eval so that both see the
    same machine; the ratio is the median over ``rounds``.
    """
    from inception_v2.data.calibration import calibration_images
    from inception_v2.data.sources import open_data
    from inception_v2.evaluation.evaluate import evaluate
    from inception_v2.inference.function import inference_function
    from inception_v2.inference.hardware import fast_plan
    from inception_v2.precision import model_options
    from inception_v2.weights.factory import InceptionV2
    from inception_v2.weights.slim_reference import smooth_random_images

    report: dict = {"images": images, "batch": batch, "eval": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = open_data(_repeat_sample(Path(tmp), images))
        report["pipeline_images_per_s"] = _pipeline_rate(data, batch, rounds)
        x = smooth_random_images(batch, 224, 224, np.random.default_rng(0))
        runs = []
        for engine in engines:
            prefix = "" if engine == "keras" else f"{engine} "
            runs.append((f"{prefix}float32", "float32", engine))
            precision, fast_engine, _ = fast_plan(engine)
            if (precision, fast_engine) != ("float32", engine):  # else --fast is the float32 run
                runs.append((f"{prefix}fast", precision, fast_engine))
        if "openvino" in engines and importlib.util.find_spec("nncf") is not None:
            runs.append(("openvino int8", "int8", "openvino"))
        calibration = calibration_images(count=INT8_CALIBRATION)
        for label, precision, engine in runs:
            options = model_options(precision, engine)
            model = InceptionV2(weights=weights, classifier_activation=None, **options)
            int8 = {"calibration": calibration} if precision == "int8" else {}
            run = inference_function(
                model, precision=precision, engine=engine, calibration=calibration.images if int8 else None
            )
            alone, end_to_end = [], []
            for _ in range(rounds):
                # Time the model alone for about as long as the eval that follows will take.
                expected_rate = max(end_to_end or alone or [50.0])
                alone.append(images_per_second(run, x, 0.8 * images / expected_rate))
                result = evaluate(
                    model,
                    data,
                    batch_size=batch,
                    show_progress=False,
                    precision=precision,
                    engine=engine,
                    **int8,
                )
                end_to_end.append(result.images_per_second)
            ratios = [e / a for e, a in zip(end_to_end, alone, strict=True)]
            report["eval"][label] = {
                "model_only_images_per_s": statistics.median(alone),
                "end_to_end_images_per_s": statistics.median(end_to_end),
                "end_to_end_over_model_only": statistics.median(ratios),
                "end_to_end_over_model_only_by_round": ratios,  # the spread: rounds vary a lot here
            }
    return report


def _pipeline_rate(data, batch: int, rounds: int) -> float:
    """Images/s of decoding and preprocessing ``data`` alone: the median of ``rounds`` passes
    after one untimed pass (the first pays for tracing and the file cache, not for images)."""
    rates = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        count = sum(int(b["label"].shape[0]) for b in data.batches(batch))
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates[1:])


def _repeat_sample(root: Path, n: int) -> Path:
    """A class-folder data set of ``n`` links to the bundled validation images."""
    from inception_v2.data.labels import data_path

    folder = root / "n01440764"
    folder.mkdir(parents=True, exist_ok=True)
    sample = sorted(data_path("imagenet_val_sample").iterdir())
    for i in range(n):
        (folder / f"{i:06d}.JPEG").symlink_to(sample[i % len(sample)])
    return root


def eval_peak_memory(weights: str, counts: tuple[int, ...] = (100, 1000)) -> dict[str, float]:
    """Peak RSS (MiB) of ``inception-v2 eval`` processes over ``counts`` images."""
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            data = _repeat_sample(Path(tmp) / str(n), n)
            argv = ["eval", "--weights", weights, "--data", str(data), "--quiet", "--batch-size", "32"]
            result, _ = run_worker("eval-memory", argv)
            peaks[str(n)] = result["peak_rss_kib"] / 1024 if result else float("nan")
    return peaks
