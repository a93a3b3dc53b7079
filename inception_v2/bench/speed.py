"""The bench's speed race: each contender's images/s at each batch size on one Keras backend.

Speeds are medians over interleaved rounds (slim, then each Keras variant, repeated), so
drift of a noisy machine hits all contenders alike; ratios are within one run.
"""

from __future__ import annotations

import importlib.util
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")
BATCHES = (1, 8, 32)
SLIM = "slim graph (TF1 session)"
FAST_PATH = "fast: folded BN, bf16"
INT8 = "openvino, int8"
SAVED_INT8 = "openvino, int8, saved"  # a model saved by inception-v2 quantize, run as saved
INT8_CALIBRATION = 64  # images NNCF calibrates on in the bench (its default subset is 300)
log = logging.getLogger("inception_v2")


def images_per_second(fn: Callable, x: np.ndarray, min_seconds: float) -> float:
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
            rates[name].append(images_per_second(fn, x, seconds))
    return rates


def _paired_ratios(rates: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Median over rounds of each contender's rate over the baseline's in the same round.

    Pairing by round cancels the machine's slow drift, which a ratio of medians does not.
    """
    base = rates[baseline]
    return {k: statistics.median(r / b for r, b in zip(v, base, strict=True)) for k, v in rates.items()}


def _slim_runner(checkpoint: str):
    from inception_v2.weights.slim_reference import slim_session

    session, images, end_points = slim_session(checkpoint)
    logits = end_points["Logits"]
    return lambda x: session.run(logits, {images: x})


def engines_to_time(engine: str | None = None) -> tuple[str, ...]:
    """``engine``, or every engine installed; asking for a missing one is bad input."""
    from inception_v2.inference.hardware import installed_engines
    from inception_v2.inference.openvino import import_openvino

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
    (TensorFlow backend only: OpenVINO converts from a ``tf.function``). Each is the network
    that ``weights``' shapes imply (classes, depth multiplier), as ``eval`` builds it."""
    from inception_v2.data.calibration import calibration_images
    from inception_v2.inference.function import inference_function
    from inception_v2.inference.hardware import cpu
    from inception_v2.precision import FAST_INFERENCE
    from inception_v2.weights.factory import build_from_weights

    def build(**options):
        return build_from_weights(weights, classifier_activation=None, **options)[0]

    if not engines:
        return {}
    plain = build()
    contenders = {}
    if "keras" in engines:
        folded = build(fold_batch_norm=True)
        fast = build(**FAST_INFERENCE)
        contenders = {
            "keras call": lambda x: plain(x, training=False),
            "keras predict": plain.predict_on_batch,
            "inference fn": inference_function(plain),
            "inference fn, folded BN": inference_function(folded),
            FAST_PATH: inference_function(fast),
        }
        if backend == "tensorflow":  # on JAX, predict is XLA already
            jit = build(fold_batch_norm=True)
            jit.compile(jit_compile=True)
            contenders["predict, folded BN, XLA"] = jit.predict_on_batch
    if "openvino" in engines and backend == "tensorflow":
        contenders["openvino, float32"] = inference_function(plain, engine="openvino")
        if cpu().bfloat16_units:
            contenders["openvino, bf16"] = inference_function(plain, engine="openvino", precision="bfloat16")
        if importlib.util.find_spec("nncf") is not None:  # int8: NNCF's defaults, the bundled images
            calibration = calibration_images(count=INT8_CALIBRATION).images
            contenders[INT8] = inference_function(
                plain, engine="openvino", precision="int8", calibration=calibration
            )
    if "keras" in engines and backend == "torch" and torch_compile:
        contenders["inference fn, folded BN, torch.compile"] = inference_function(folded, torch_compile=True)
        contenders["fast, torch.compile"] = inference_function(fast, torch_compile=True)
    return contenders


#: The exported formats raced with ``exports``: the row names, by ``export`` format.
SERVED = {
    "savedmodel": "served: SavedModel, JPEG bytes",
    "onnx": "served: onnxruntime, uint8",
    "litert": "served: LiteRT, uint8",
    "openvino": "served: OpenVINO IR, uint8",
}


def write_exports(weights: str, folder: str | Path) -> dict[str, Path]:
    """``weights``' classifier exported in every format ``bench`` races, into ``folder``
    (formats whose extra is missing are left out)."""
    from inception_v2.errors import MissingExtra
    from inception_v2.export.artifacts import SUFFIXES, export
    from inception_v2.weights.factory import build_from_weights

    model = build_from_weights(weights)[0]
    paths = {}
    for fmt in SERVED:
        try:
            paths[fmt] = export(model, Path(folder) / f"model{SUFFIXES[fmt]}", fmt)
        except MissingExtra as e:
            log.info("  %s not raced: %s", fmt, e)
    return paths


def served_contenders(paths: dict[str, Path], precision: str = "float32") -> dict[str, Callable]:
    """A contender per exported file, fed what its client sends for the batch it is given
    (preprocessed images in [-1, 1] at 224 x 224): the SavedModel the JPEG bytes of each image
    (encoded once, outside the timing; decoding and preprocessing inside it), the others the
    uint8 pixels. Each runs on its own runtime, as a server would, and returns the probabilities
    (``precision``: OpenVINO's hint; an int8 IR carries its own int8 operations)."""
    import tensorflow as tf

    from inception_v2.inference.openvino import compile_for_cpu
    from inception_v2.inference.served import INPUT, SERVING_SIGNATURE

    client_inputs: dict[tuple, tuple] = {}

    def inputs(x: np.ndarray) -> tuple[np.ndarray, list[bytes]]:
        key = (x.shape, x.data.tobytes()[:64])
        if key not in client_inputs:
            pixels = np.clip(np.round((np.asarray(x) + 1.0) * 127.5), 0, 255).astype(np.uint8)
            client_inputs[key] = pixels, [tf.io.encode_jpeg(image, quality=95).numpy() for image in pixels]
        return client_inputs[key]

    contenders = {}
    for fmt, path in paths.items():
        if fmt == "savedmodel":
            signature = tf.saved_model.load(str(path)).signatures[SERVING_SIGNATURE]
            contenders[SERVED[fmt]] = lambda x, s=signature: s(**{INPUT: tf.constant(inputs(x)[1])})[
                "probabilities"
            ].numpy()
        elif fmt == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            contenders[SERVED[fmt]] = lambda x, s=session: s.run(["probabilities"], {INPUT: inputs(x)[0]})[0]
        elif fmt == "litert":
            from ai_edge_litert.interpreter import Interpreter

            runner = Interpreter(model_path=str(path)).get_signature_runner(SERVING_SIGNATURE)
            contenders[SERVED[fmt]] = lambda x, r=runner: r(**{INPUT: inputs(x)[0]})["probabilities"]
        else:
            compiled = compile_for_cpu(str(path), precision)
            contenders[SERVED[fmt]] = lambda x, c=compiled: c(inputs(x)[0])[c.outputs[0]]
    return contenders


def bench_backend(
    weights: str,
    batches: list[int],
    rounds: int,
    seconds: float,
    slim_checkpoint: str | None = None,
    torch_compile: bool = False,
    engines: tuple[str, ...] = ("keras",),
    saved_int8: str | None = None,
    exports: str | Path | None = None,
) -> dict:
    """Throughput of every contender at each batch size on the current Keras backend.

    Args:
        weights: the Keras contenders' weights (speed does not depend on their values).
        batches, rounds, seconds: batch sizes; interleaved rounds and minimum seconds per
            measurement.
        slim_checkpoint: race tf_slim's graph on it too (the TensorFlow backend only).
        torch_compile: also time ``torch.compile`` (the PyTorch backend).
        engines: the engines whose contenders run (``keras_contenders``).
        saved_int8: a saved int8 model folder to race as well.
        exports: a folder to export ``weights`` into, every format raced as it is served
            (``served_contenders``; the TensorFlow backend).

    Returns:
        ``throughput``: median images/s per batch and contender; ``ratio``: median of per-round
        ratios to slim's graph (where it runs in the same process, i.e. on the TensorFlow
        backend); ``latency_ms_batch1``.
    """
    import keras

    from inception_v2.weights.slim_reference import smooth_random_images

    backend = keras.backend.backend()
    results = {"backend": backend, "throughput": {}, "ratio": {}, "latency_ms_batch1": {}}
    contenders = keras_contenders(weights, backend, torch_compile, engines)
    if saved_int8:
        from inception_v2.inference.quantized import RAW_LAYOUT, load_quantized, quantized_folder

        run, record = load_quantized(saved_int8)  # as eval and predict load it
        if record.layout == RAW_LAYOUT:  # it takes uint8 pixels: fed them, as its clients feed it
            model_xml = quantized_folder(saved_int8) / "model.xml"
            (run,) = served_contenders({"openvino": model_xml}, "int8").values()
        contenders[SAVED_INT8] = run
    if exports and backend == "tensorflow":
        contenders.update(served_contenders(write_exports(weights, exports)))
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
