"""``inception-v2 bench``: the Keras port against tf_slim's graph, in one run, one machine.

Speeds are medians over interleaved rounds (slim, then each Keras variant, repeated), so
drift of a noisy machine hits all contenders alike; ratios are within one run. Weights
are a random checkpoint that tf_slim builds: speed does not depend on their values.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inception_v2.architecture import GFLOP_PER_IMAGE
from inception_v2.labels import top_k

BACKENDS = ("tensorflow", "jax", "torch")
BATCHES = (1, 8, 32)
log = logging.getLogger("inception_v2")


def _rate(fn: Callable, x: np.ndarray, min_seconds: float) -> float:
    """Images/s of ``fn(x)`` over at least ``min_seconds`` (after two warm-up calls)."""
    fn(x)
    fn(x)
    n, start = 0, time.perf_counter()
    while True:
        fn(x)
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and n >= 3:
            return n * len(x) / elapsed


def _race(
    contenders: dict[str, Callable], x: np.ndarray, rounds: int, seconds: float
) -> dict[str, list[float]]:
    """Images/s of each contender in each of ``rounds`` interleaved rounds."""
    rates: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            rates[name].append(_rate(fn, x, seconds))
    return rates


def _paired_ratios(rates: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Median over rounds of each contender's rate over the baseline's in the same round.

    Pairing by round cancels the machine's slow drift, which a ratio of medians does not.
    """
    base = rates[baseline]
    return {k: statistics.median(r / b for r, b in zip(v, base, strict=True)) for k, v in rates.items()}


def _slim_runner(checkpoint: str):
    from inception_v2.slim_reference import slim_session

    session, images, end_points = slim_session(checkpoint)
    logits = end_points["Logits"]
    return lambda x: session.run(logits, {images: x})


SLIM = "slim graph (TF1 session)"
FAST_PATH = "fast: folded BN, bf16"
#: Contenders that compute slim's float32 (within 1e-4).
FLOAT32_EXACT = ("inference fn", "inference fn, folded BN", "openvino, float32", "keras predict")


def engines_to_time(engine: str | None = None) -> tuple[str, ...]:
    """``engine``, or every engine installed; asking for a missing one is bad input."""
    from inception_v2.hardware import installed_engines
    from inception_v2.openvino_engine import import_openvino

    if engine == "openvino":
        import_openvino()  # MissingExtra naming the extra
    if engine:
        return (engine,)
    return installed_engines()


def keras_contenders(
    weights: str, backend: str, torch_compile: bool = False, engines: tuple[str, ...] = ("keras",)
) -> dict[str, Callable]:
    """The variants timed on the current backend (float32 unless named otherwise): the
    Keras model's calls where ``engines`` has ``"keras"``, OpenVINO's where it has ``"openvino"``
    (TensorFlow backend only: OpenVINO converts from a ``tf.function``)."""
    from inception_v2.hardware import cpu
    from inception_v2.inference import inference_function
    from inception_v2.model import FAST_INFERENCE, InceptionV2

    plain = InceptionV2(weights=weights, classifier_activation=None)
    contenders = {}
    if "keras" in engines:
        folded = InceptionV2(weights=weights, classifier_activation=None, fold_batch_norm=True)
        fast = InceptionV2(weights=weights, classifier_activation=None, **FAST_INFERENCE)
        contenders = {
            "keras call": lambda x: plain(x, training=False),
            "keras predict": plain.predict_on_batch,
            "inference fn": inference_function(plain),
            "inference fn, folded BN": inference_function(folded),
            FAST_PATH: inference_function(fast),
        }
        if backend == "tensorflow":  # on JAX, predict is XLA already
            jit = InceptionV2(weights=weights, classifier_activation=None, fold_batch_norm=True)
            jit.compile(jit_compile=True)
            contenders["predict, folded BN, XLA"] = jit.predict_on_batch
    if "openvino" in engines and backend == "tensorflow":
        contenders["openvino, float32"] = inference_function(plain, engine="openvino")
        if cpu().bfloat16_units:
            contenders["openvino, bf16"] = inference_function(plain, engine="openvino", precision="bfloat16")
    if "keras" in engines and backend == "torch" and torch_compile:
        contenders["inference fn, folded BN, torch.compile"] = inference_function(folded, torch_compile=True)
        contenders["fast, torch.compile"] = inference_function(fast, torch_compile=True)
    return contenders


def bench_backend(
    weights: str,
    batches: list[int],
    rounds: int,
    seconds: float,
    slim_checkpoint: str | None = None,
    torch_compile: bool = False,
    engines: tuple[str, ...] = ("keras",),
) -> dict:
    """Throughput of every contender at each batch size on the current Keras backend.

    ``throughput``: median images/s; ``ratio``: median of per-round ratios to slim's graph
    (only where slim runs in the same process, i.e. on the TensorFlow backend).
    """
    import keras

    from inception_v2.slim_reference import smooth_random_images

    backend = keras.backend.backend()
    results = {"backend": backend, "throughput": {}, "ratio": {}, "latency_ms_batch1": {}}
    contenders = keras_contenders(weights, backend, torch_compile, engines)
    if slim_checkpoint:
        contenders = {SLIM: _slim_runner(slim_checkpoint), **contenders}
    for batch in batches:
        log.info("  batch %d: %d contenders, %d round(s)", batch, len(contenders), rounds)
        x = smooth_random_images(batch, 224, 224, np.random.default_rng(batch))
        rates = _race(contenders, x, rounds, seconds)
        results["throughput"][str(batch)] = {k: statistics.median(v) for k, v in rates.items()}
        if slim_checkpoint:
            results["ratio"][str(batch)] = _paired_ratios(rates, SLIM)
        if batch == 1:
            results["latency_ms_batch1"] = {k: 1000.0 / v for k, v in results["throughput"]["1"].items()}
    return results


def _in_subprocess(
    backend: str, weights: str, batches: list[int], rounds: int, seconds: float, torch_compile: bool = False
) -> dict:
    """Run ``bench_backend`` under another Keras backend (fixed at import, hence a process)."""
    call = f"bench_backend({weights!r}, {batches!r}, {rounds}, {seconds}, None, {torch_compile})"
    code = f"import json,sys; from inception_v2.bench import bench_backend; print(json.dumps({call}))"
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"backend": backend, "error": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def pipeline_and_eval(
    weights: str, images: int = 400, batch: int = 32, rounds: int = 3, engines: tuple[str, ...] = ("keras",)
) -> dict:
    """Input pipeline alone vs model alone vs end-to-end eval, on real JPEGs.

    ``{"images", "batch", "pipeline_images_per_s", "eval": {run: figures}}``, a run per engine
    for the float32 model ``eval`` runs by default and for what ``--fast`` runs on this CPU
    (``hardware.fast_plan``; keyed ``"float32"``, ``"fast"``, then ``"openvino float32"``,
    ``"openvino fast"``). Eval
    throughput is that of ``evaluate`` (after its first batch); model-only that of the same
    inference function on a fixed batch, timed just before each eval so that both see the
    same machine; the ratio is the median over ``rounds``.
    """
    from inception_v2.data import open_data
    from inception_v2.evaluate import evaluate
    from inception_v2.hardware import fast_plan
    from inception_v2.inference import inference_function
    from inception_v2.model import InceptionV2
    from inception_v2.precision import model_options
    from inception_v2.slim_reference import smooth_random_images

    report: dict = {"images": images, "batch": batch, "eval": {}}
    with tempfile.TemporaryDirectory() as tmp:
        data = open_data(_repeat_sample(Path(tmp), images))
        start = time.perf_counter()
        count = sum(int(b["label"].shape[0]) for b in data.dataset(batch))
        report["pipeline_images_per_s"] = count / (time.perf_counter() - start)
        x = smooth_random_images(batch, 224, 224, np.random.default_rng(0))
        runs = []
        for engine in engines:
            prefix = "" if engine == "keras" else f"{engine} "
            runs.append((f"{prefix}float32", "float32", engine))
            precision, fast_engine, _ = fast_plan(engine)
            if (precision, fast_engine) != ("float32", engine):  # else --fast is the float32 run
                runs.append((f"{prefix}fast", precision, fast_engine))
        for label, precision, engine in runs:
            options = model_options(precision, engine)
            model = InceptionV2(weights=weights, classifier_activation=None, **options)
            run = inference_function(model, precision=precision, engine=engine)
            alone, end_to_end = [], []
            for _ in range(rounds):
                # Time the model alone for about as long as the eval that follows will take.
                expected_rate = max(end_to_end or alone or [50.0])
                alone.append(_rate(run, x, 0.8 * images / expected_rate))
                result = evaluate(
                    model, data, batch_size=batch, show_progress=False, precision=precision, engine=engine
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


def _repeat_sample(root: Path, n: int) -> Path:
    """A class-folder data set of ``n`` links to the bundled validation images."""
    from inception_v2.labels import data_path

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
            # VmHWM: the peak of this process's own memory. Not getrusage's ru_maxrss, which Linux
            # carries across exec from the parent (the bench, holding many models: 9 GiB here).
            code = (
                "import sys; from pathlib import Path; from inception_v2.cli import main; "
                f"rc = main({argv!r}); "
                "print([s for s in Path('/proc/self/status').read_text().splitlines() "
                "if s.startswith('VmHWM')][0]); sys.exit(rc)"
            )
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            line = [s for s in done.stdout.splitlines() if s.startswith("VmHWM")]
            peaks[str(n)] = int(line[0].split()[1]) / 1024 if line else float("nan")  # kB -> MiB
    return peaks


def fast_path_agreement(
    weights: str | None = None, images_count: int = 100, engines: tuple[str, ...] | None = None
) -> dict:
    """Reduced precisions against float32 on the bundled real images, with weights whose
    predictions vary image to image (``live_weights``: batch-norm statistics from these
    images, logits centred), so agreement means something. ``weights`` is unused: a random
    checkpoint predicts nearly one class for every image.

    Per path: top-1 agreement, float32 top-1 inside its top 5, and the max relative error
    (max |diff| / max |float32|) per end point; for the reference: distinct top-1 classes and
    the median top-1/top-2 logit margin (small margins make any rounding flip classes).
    """
    import keras

    from inception_v2.checkpoint import assign_checkpoint, model_variable_map
    from inception_v2.data import open_data
    from inception_v2.hardware import cpu
    from inception_v2.inference import inference_function
    from inception_v2.live_weights import make_live
    from inception_v2.model import END_POINTS, FAST_INFERENCE, InceptionV2, end_point_model

    engines = engines or engines_to_time()
    images = np.concatenate([b["image"].numpy() for b in open_data(None).dataset(50)])[:images_count]
    keras.utils.set_random_seed(0)
    base = make_live(InceptionV2(classifier_activation=None), images)
    names = [e for e in END_POINTS if e != "Predictions"]

    def run_all(model, **options):
        run = inference_function(end_point_model(model, names), **options)
        outputs = [run(images[i : i + 25]) for i in range(0, len(images), 25)]
        return {k: np.concatenate([o[k] for o in outputs]) for k in names}

    reference = run_all(base)
    paths = {}
    if "keras" in engines:  # the fast path's own model, with the live weights
        fast_model = InceptionV2(classifier_activation=None, **FAST_INFERENCE)
        variables = {n: keras.ops.convert_to_numpy(v.value) for n, v in model_variable_map(base).items()}
        assign_checkpoint(fast_model, variables)
        paths[FAST_PATH] = run_all(fast_model)
    if "openvino" in engines and cpu().bfloat16_units and keras.backend.backend() == "tensorflow":
        paths["openvino, bf16"] = run_all(base, engine="openvino", precision="bfloat16")
    logits = reference["Logits"]
    ordered = np.sort(logits, axis=-1)
    top1 = logits.argmax(-1)
    result = {
        "images": len(images),
        "weights": "live: batch-norm statistics from these images, logits centred (live_weights)",
        "distinct_top1": int(len(set(top1.tolist()))),
        "median_top1_margin": float(np.median(ordered[:, -1] - ordered[:, -2])),
        "paths": {},
    }
    for name, out in paths.items():
        top5 = top_k(out["Logits"], 5)
        result["paths"][name] = {
            "top1_agreement": float((out["Logits"].argmax(-1) == top1).mean()),
            "top5_contains_float32_top1": float((top5 == top1[:, None]).any(-1).mean()),
            "max_relative_error": {
                k: float(np.abs(out[k] - reference[k]).max() / np.abs(reference[k]).max()) for k in names
            },
        }
    return result


def machine() -> dict:
    """What the numbers were measured on, and an estimate of the CPU's float32 peak."""
    from inception_v2.hardware import cpu

    here = cpu()
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    info.update(cpu=here.model, features=list(here.features), bfloat16_units=here.bfloat16_units)
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        mhz = [float(s.split(":", 1)[1]) for s in cpuinfo if s.startswith("cpu MHz")]
        if mhz:  # at the clock the OS reports (a boost clock would be higher)
            per_cycle = here.fp32_flops_per_cycle
            info["fp32_peak_gflops_estimate"] = round(os.cpu_count() * per_cycle * max(mhz) / 1000, 1)
    except (OSError, ValueError):
        pass
    return info


#: What ``quick`` measures: every stage once, small (a smoke run, not numbers to quote).
QUICK = {"batches": (1, 8), "backends": ("tensorflow",), "rounds": 1, "seconds": 0.5}


def check_backends(backends: tuple[str, ...]) -> tuple[str, ...]:
    """``backends``, each known and installed (TensorFlow always is).

    Raises:
        InvalidArgument: an unknown name.
        MissingExtra: JAX or PyTorch not installed.
    """
    import importlib.util

    from inception_v2.errors import InvalidArgument, MissingExtra

    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise InvalidArgument(
            f"--backends: unknown {', '.join(unknown) or 'none given'}; choose from {', '.join(BACKENDS)}"
        )
    for backend in backends:
        if importlib.util.find_spec({"torch": "torch", "jax": "jax"}.get(backend, "tensorflow")) is None:
            raise MissingExtra.named("backends", f"the {backend} backend is not installed")
    return backends


def run(
    batches: tuple[int, ...] = BATCHES,
    rounds: int = 3,
    seconds: float = 3.0,
    backends: tuple[str, ...] = BACKENDS,
    quick: bool = False,
    torch_compile: bool = False,
    engine: str | None = None,
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

    Returns:
        The report: machine, engines, converter time, per-backend throughput and ratios,
        reduced-precision agreement, input pipeline and eval, eval peak memory.
    """
    from inception_v2.convert import convert_checkpoint
    from inception_v2.slim_reference import random_slim_variables, save_slim_variables

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
        stage(f"tensorflow backend against slim's graph, batches {', '.join(map(str, batches))}")
        report["backends"] = [
            bench_backend(weights, list(batches), rounds, seconds, checkpoint, engines=engines)
        ]
        for backend in others:
            stage(f"{backend} backend (a subprocess)")
            report["backends"].append(
                _in_subprocess(backend, weights, list(batches), rounds, seconds, torch_compile)
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


def format_report(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine: {m.get('cpu', '?')}, {m['cpus']} CPUs; {', '.join(m.get('features', [])) or 'no AVX2'}; "
        f"bfloat16 units: {'yes' if m.get('bfloat16_units') else 'no'}; "
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
        f"classes, median top-1/top-2 margin {a['median_top1_margin']:.3g} logits):"
    )
    for name, r in a["paths"].items():
        worst = max(r["max_relative_error"].items(), key=lambda kv: kv[1])
        lines.append(
            f"  {name}: top-1 agreement {100 * r['top1_agreement']:.1f}%, float32 top-1 in its top-5 "
            f"{100 * r['top5_contains_float32_top1']:.1f}%, max relative error {worst[1]:.2e} ({worst[0]})"
        )
    mem = report["eval_peak_rss_mib"]
    lines.append("eval peak RSS: " + ", ".join(f"{n} images {v:.0f} MiB" for n, v in mem.items()))
    lines.append(f"converter: {report['converter_seconds']:.1f} s")
    return "\n".join(lines)
