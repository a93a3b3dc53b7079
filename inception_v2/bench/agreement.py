"""The bench's accuracy side: reduced precisions against float32, on weights whose
predictions vary image to image."""

from __future__ import annotations

import importlib.util

import numpy as np

from inception_v2.bench.speed import FAST_PATH, INT8, engines_to_time
from inception_v2.data.labels import top_k


def fast_path_agreement(images_count: int = 100, engines: tuple[str, ...] | None = None) -> dict:
    """Reduced precisions against float32 on the bundled real images, with weights whose
    predictions vary image to image (``live_weights``: batch-norm statistics from these
    images, logits centred), so agreement means something; a random checkpoint predicts
    nearly one class for every image.

    Args:
        images_count: how many of the bundled images to measure on.
        engines: the engines whose reduced precisions to measure (default: those installed).

    Returns:
        ``agreement``'s figures (small margins make any rounding flip classes), with the
        weights described under ``"weights"``.
    """
    import keras

    from inception_v2.bench.live_weights import make_live
    from inception_v2.data.calibration import calibration_images
    from inception_v2.data.example_data import example_data_path
    from inception_v2.data.sources import open_data
    from inception_v2.inference.function import inference_function
    from inception_v2.inference.hardware import cpu
    from inception_v2.model.architecture import END_POINTS
    from inception_v2.model.network import end_point_model
    from inception_v2.precision import FAST_INFERENCE
    from inception_v2.weights.checkpoint import assign_checkpoint, model_variable_map
    from inception_v2.weights.factory import InceptionV2

    engines = engines or engines_to_time()
    images = np.concatenate([b["image"].numpy() for b in open_data(None).batches(50)])[:images_count]
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
    openvino = "openvino" in engines and keras.backend.backend() == "tensorflow"
    if openvino and cpu().bfloat16_units:
        paths["openvino, bf16"] = run_all(base, engine="openvino", precision="bfloat16")
    if openvino and importlib.util.find_spec("nncf") is not None:
        held_out = calibration_images(example_data_path()).images  # not the images measured
        paths[INT8] = run_all(base, engine="openvino", precision="int8", calibration=held_out)
    weights = "live: batch-norm statistics from these images, logits centred (live_weights)"
    return {"weights": weights, **agreement(reference, paths)}


def agreement(reference: dict[str, np.ndarray], paths: dict[str, dict[str, np.ndarray]]) -> dict:
    """How far each path's outputs are from float32's, image by image.

    Args:
        reference: float32's outputs per end point (``"Logits"`` among them), images first.
        paths: per path name, its outputs on the same images and end points.

    Returns:
        ``{"images", "distinct_top1", "median_top1_margin", "images_with_margin_ge_1", "paths"}``:
        float32's spread of predictions and of top-1/top-2 margins, then per path top-1
        agreement (overall and where float32's top-1 leads by >= 1 logit), float32's top-1
        inside the path's top 5, the largest logit error over the logits' spread, and the max
        relative error (max |diff| / max |float32|) per end point.
    """
    logits = reference["Logits"]
    ordered = np.sort(logits, axis=-1)
    top1 = logits.argmax(-1)
    margin = ordered[:, -1] - ordered[:, -2]
    clear = margin >= 1.0
    spread = ordered[:, -1] - ordered[:, 0]
    result = {
        "images": len(logits),
        "distinct_top1": int(len(set(top1.tolist()))),
        "median_top1_margin": float(np.median(margin)),
        "images_with_margin_ge_1": int(clear.sum()),
        "paths": {},
    }
    for name, out in paths.items():
        top5 = top_k(out["Logits"], 5)
        agree = out["Logits"].argmax(-1) == top1
        result["paths"][name] = {
            "top1_agreement": float(agree.mean()),
            "top1_agreement_where_margin_ge_1": float(agree[clear].mean()) if clear.any() else None,
            "max_logit_error_over_spread": float((np.abs(out["Logits"] - logits).max(-1) / spread).max()),
            "top5_contains_float32_top1": float((top5 == top1[:, None]).any(-1).mean()),
            "max_relative_error": {
                k: float(np.abs(out[k] - reference[k]).max() / np.abs(reference[k]).max()) for k in reference
            },
        }
    return result
