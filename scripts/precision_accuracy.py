#!/usr/bin/env python3
"""What float32, bfloat16 and int8 cost in accuracy, on networks that have learned something.

Agreement between precisions measured on random weights says little (their logits are
near-ties), so this measures on trained Inception V2 networks: the variants a
``inception-v2 bn-study`` run trained (``STUDY/models/*.keras``), each scored on the study's
own held-out validation digits (the same split, same seed) in

- float32: the Keras model, true float32;
- bfloat16: the fast path (batch norm folded where there is one, bfloat16 weights and
  activations) on Keras, and OpenVINO's bfloat16 where the CPU has bfloat16 units;
- int8: OpenVINO, quantized by NNCF's defaults on 300 of the study's *training* images.

Then, on live weights (``bench_agreement``: ImageNet-sized network, batch-norm statistics from
the bundled images), agreement with float32 overall and where float32's top-1 leads by >= 1
logit, and the logit error relative to the logits' spread.

Usage: python scripts/precision_accuracy.py STUDY_FOLDER [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np

from inception_v2.bench.agreement import fast_path_agreement
from inception_v2.bench.race import machine
from inception_v2.inference.function import inference_function
from inception_v2.inference.hardware import cpu
from inception_v2.model.network import build_inception_v2
from inception_v2.studies.bn.data import load_study_data
from inception_v2.studies.bn.study import VARIANTS, StudySettings
from inception_v2.weights.checkpoint import assign_checkpoint, model_variable_map

CALIBRATION_IMAGES = 300


def _bfloat16_twin(model: keras.Model, variant, settings: StudySettings, classes: int) -> keras.Model:
    """The same trained network built as the bfloat16 fast path, its weights assigned by name."""
    twin = build_inception_v2(
        input_shape=(settings.image_size, settings.image_size, 3),
        classes=classes,
        classifier_activation=None,
        depth_multiplier=settings.depth_multiplier,
        dropout_keep_prob=1.0,
        global_pool=True,
        batch_norm=variant.batch_norm,
        activation=variant.activation,
        fold_batch_norm=variant.batch_norm,
        dtype="bfloat16",
    )
    variables = {n: keras.ops.convert_to_numpy(v.value) for n, v in model_variable_map(model).items()}
    assign_checkpoint(twin, variables)
    return twin


def _accuracy(run, images: np.ndarray, labels: np.ndarray) -> float:
    logits = np.concatenate(
        [np.asarray(run(images[i : i + 128]), np.float32) for i in range(0, len(images), 128)]
    )
    return float((logits.argmax(-1) == labels).mean())


def trained_networks(study: Path) -> list[dict]:
    settings = StudySettings(**json.loads((study / "settings.json").read_text()))
    data = load_study_data(settings.data, settings.image_size, settings.validation_split, settings.seed)
    calibration = data.x_train[np.random.default_rng(0).permutation(len(data.x_train))[:CALIBRATION_IMAGES]]
    rows = []
    for variant in VARIANTS:
        path = study / "models" / f"{variant.name}.keras"
        if not path.exists():
            continue
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
        row = {"variant": variant.name, "validation_images": int(len(data.y_val))}
        row["float32"] = _accuracy(inference_function(model), data.x_val, data.y_val)
        twin = _bfloat16_twin(model, variant, settings, len(data.class_names))
        row["bfloat16 (keras fast path)"] = _accuracy(inference_function(twin), data.x_val, data.y_val)
        if cpu().bfloat16_units:
            run = inference_function(model, engine="openvino", precision="bfloat16")
            row["bfloat16 (openvino)"] = _accuracy(run, data.x_val, data.y_val)
        run = inference_function(model, engine="openvino", precision="int8", calibration=calibration)
        row["int8 (openvino)"] = _accuracy(run, data.x_val, data.y_val)
        print(json.dumps(row), flush=True)
        rows.append(row)
        keras.backend.clear_session()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("study", type=Path, help="a finished inception-v2 bn-study folder")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    report = {"machine": machine(), "trained": trained_networks(args.study)}
    report["live_weights"] = fast_path_agreement(images_count=100, engines=("keras", "openvino"))
    print(json.dumps(report["live_weights"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
