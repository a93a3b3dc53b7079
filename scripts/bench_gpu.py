#!/usr/bin/env python3
"""The port on an accelerator: fidelity against float64, then speed, per Keras backend.

Made for a short slot on a GPU machine without TensorFlow (keras, jax, torch; Pillow for the
images). One process per Keras backend and job; every row is printed the moment it is
measured, and each backend gets a time budget (``--budget`` seconds, fidelity and speed
together), so a slot that ends early still leaves numbers behind. With the defaults the
whole run takes under 4 minutes on an H100.

Fidelity: weights whose predictions vary image to image (``inception_v2.bench.live_weights``:
batch-norm statistics from the images, logits centred) on the 100 ImageNet images bundled
with the package (central crop 0.875, bilinear resize with Pillow); each precision's logits
against a float64 run of the same network on the same backend: max |diff|, top-1 agreement,
top-5 set agreement, and how varied the reference is (distinct top-1 classes, median margin).

Speed: batch norm folded, inputs already on the device, images/s and TFLOP/s (from the
multiply-adds of the network run) against the card's dense peak where the card is known.

    python scripts/bench_gpu.py --json gpu.json
    python scripts/bench_gpu.py --backends torch --data-formats channels_last,channels_first

On a CPU it runs too (``--image-size 64 --depth-multiplier 0.25 --fidelity-images 8 --batches 1
--seconds 0.2`` is a smoke test); TF32 exists only on GPUs, so there "tf32" equals "float32".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Dense tensor-core peaks from NVIDIA's datasheets (TFLOP/s). "float32" rows run in true
# float32 (no tensor cores: the FP32 peak); "tf32" rows may use TF32 tensor cores.
PEAK_TFLOPS = {
    "H100 80GB HBM3": {"bfloat16": 989.4, "tf32": 494.7, "float32": 66.9},  # SXM5
    "H100 PCIe": {"bfloat16": 756.0, "tf32": 378.0, "float32": 51.2},
    "H200": {"bfloat16": 989.4, "tf32": 494.7, "float32": 66.9},
}

CHILD = r"""
import json, sys, time
import numpy as np
settings = json.loads(sys.argv[1])
job, deadline = settings["job"], time.time() + settings["budget"]
if job == "fidelity" and settings["backend"] == "jax":
    import jax
    jax.config.update("jax_enable_x64", True)  # for the float64 reference
import keras
from inception_v2.weights.checkpoint import assign_checkpoint, model_variable_map
from inception_v2.model.flops import multiply_adds
from inception_v2.inference.function import inference_function
from inception_v2.data.labels import top_k
from inception_v2.model.network import build_inception_v2, image_shape
from inception_v2.precision import model_options

def emit(**row):
    print(json.dumps(row), flush=True)

backend = keras.backend.backend()
if backend == "jax":
    import jax
    device = jax.devices()[0]
    emit(kind="device", name=getattr(device, "device_kind", str(device)))
    to_device = lambda x: jax.device_put(x, device)
else:
    import torch
    cuda = torch.cuda.is_available()
    emit(kind="device", name=torch.cuda.get_device_name(0) if cuda else "cpu")
    to_device = lambda x: torch.from_numpy(x).to("cuda" if cuda else "cpu")
size = settings["image_size"]

def run_all(run, images, batch):
    chunks = range(0, len(images), batch)
    return np.concatenate([np.asarray(run(to_device(images[i : i + batch]))) for i in chunks])

def build(data_format, **kwargs):
    keras.config.set_image_data_format(data_format)
    return build_inception_v2(
        classifier_activation=None, input_shape=image_shape(size, size),
        depth_multiplier=settings["depth_multiplier"], **kwargs)

if job == "fidelity":
    images = np.load(settings["images"])
    keras.utils.set_random_seed(0)
    from inception_v2.bench.live_weights import make_live
    base = make_live(build("channels_last"), images)
    variables = {n: keras.ops.convert_to_numpy(v.value) for n, v in model_variable_map(base).items()}
    reference = build("channels_last", dtype="float64")
    assign_checkpoint(reference, variables)
    ref = run_all(inference_function(reference), images.astype(np.float64), 25).astype(np.float64)
    ordered = np.sort(ref, axis=-1)
    emit(kind="reference", distinct_top1=int(len(set(ref.argmax(-1).tolist()))), images=len(images),
         median_margin=float(np.median(ordered[:, -1] - ordered[:, -2])), max_abs=float(np.abs(ref).max()))
    for precision in settings["precisions"]:
        if time.time() > deadline:
            emit(kind="skipped", what=f"fidelity {precision}", why="budget")
            continue
        if precision == "bfloat16":
            model = build("channels_last", **model_options(precision))
            assign_checkpoint(model, variables)
        else:
            model = base
        out = run_all(inference_function(model, precision=precision), images, 25).astype(np.float64)
        top5 = lambda x: np.sort(top_k(x, 5), axis=-1)
        emit(kind="fidelity", precision=precision, max_abs_diff=float(np.abs(out - ref).max()),
             top1_agree=float((out.argmax(-1) == ref.argmax(-1)).mean()),
             top5_set_agree=float((top5(out) == top5(ref)).all(-1).mean()))
else:
    for data_format in settings["data_formats"]:
        for precision in settings["precisions"]:
            for batch in settings["batches"]:
                what = dict(precision=precision, batch=batch, data_format=data_format)
                if time.time() > deadline:
                    emit(kind="skipped", what=what, why="budget")
                    continue
                model = build(data_format, **{"fold_batch_norm": True, **model_options(precision)})
                run = inference_function(model, torch_compile=settings["torch_compile"], precision=precision)
                shape = (batch, *image_shape(size, size))
                x = to_device(np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
                start = time.perf_counter()
                run(x)
                first = time.perf_counter() - start
                run(x)
                n, start = 0, time.perf_counter()
                while time.perf_counter() - start < settings["seconds"] or n < 3:
                    run(x)  # returns NumPy: each call waits for the device
                    n += 1
                rate = n * batch / (time.perf_counter() - start)
                emit(kind="speed", **what, images_per_s=rate, first_call_s=first,
                     gflop_per_image=2 * multiply_adds(model) / 1e9)
"""


def load_images(n: int, size: int):
    """The first ``n`` bundled ImageNet images, NHWC float32 in [-1, 1], without TensorFlow.

    slim's eval crop (central 0.875) and a bilinear resize by Pillow: close to slim's
    preprocessing, and the same input for every precision compared, which is what counts here.
    """
    import numpy as np
    from PIL import Image

    from inception_v2.data.labels import data_path

    files = sorted(data_path("imagenet_val_sample").iterdir())[:n]
    images = []
    for path in files:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            cw, ch = round(w * 0.875), round(h * 0.875)
            left, top = (w - cw) // 2, (h - ch) // 2
            image = image.crop((left, top, left + cw, top + ch)).resize((size, size), Image.BILINEAR)
            images.append((np.asarray(image, np.float32) / 255.0 - 0.5) * 2.0)
    return np.stack(images)


def run_child(backend: str, settings: dict, report) -> None:
    """One job on one Keras backend in its own process; each row is reported as it comes."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    settings = {**settings, "backend": backend}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(settings)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tag = {"backend": backend, "job": settings["job"]}
    # The child skips what starts after its budget; one measurement already running may finish.
    watchdog = threading.Timer(settings["budget"] * 1.5 + 60, child.kill)
    watchdog.start()
    try:
        for line in child.stdout:
            if line.startswith("{"):
                report({**tag, **json.loads(line)})
    except BaseException:  # Ctrl-C, or our own stdout closed: the child stops with us
        child.kill()
        child.wait()
        raise
    finally:
        watchdog.cancel()
    child.wait()
    if child.returncode == -9:
        report({**tag, "kind": "stopped", "why": "over budget"})
    elif child.returncode != 0:
        error = (child.stderr.read().strip().splitlines() or ["?"])[-1]
        report({**tag, "kind": "error", "error": error})


def peak_for(device: str) -> dict[str, float] | None:
    return next((peak for name, peak in PEAK_TFLOPS.items() if name in device), None)


class Printer:
    """Prints each row as it arrives (and adds TFLOP/s to speed rows)."""

    def __init__(self):
        self.device: dict[str, str] = {}

    def __call__(self, row: dict) -> None:
        tag = f"[{row['backend']} {row['job']}]"
        kind = row["kind"]
        if kind == "device":
            self.device[row["backend"]] = row["name"]
            print(f"{tag} on {row['name']}", flush=True)
        elif kind == "reference":
            print(
                f"{tag} float64 reference: {row['images']} images, {row['distinct_top1']} distinct top-1 "
                f"classes, median top-1 margin {row['median_margin']:.3g}, max |logit| {row['max_abs']:.3g}",
                flush=True,
            )
        elif kind == "fidelity":
            print(
                f"{tag} {row['precision']:<9} max |logit diff| {row['max_abs_diff']:.2e}  top-1 agrees "
                f"{100 * row['top1_agree']:.1f} %  top-5 set agrees {100 * row['top5_set_agree']:.1f} %",
                flush=True,
            )
        elif kind == "speed":
            row["tflops"] = row["images_per_s"] * row["gflop_per_image"] / 1000
            peak = peak_for(self.device.get(row["backend"], ""))
            share = f" = {100 * row['tflops'] / peak[row['precision']]:.1f}% of peak" if peak else ""
            print(
                f"{tag} {row['precision']:<9} {row['data_format']:<14} batch {row['batch']:>4}: "
                f"{row['images_per_s']:10.1f} images/s, {row['tflops']:7.2f} TFLOP/s{share} "
                f"(first call {row['first_call_s']:.1f} s)",
                flush=True,
            )
        else:
            print(f"{tag} {kind}: {row.get('what', '')} {row.get('why', row.get('error', ''))}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="jax,torch")
    parser.add_argument("--precisions", default="float32,tf32,bfloat16")
    parser.add_argument("--batches", default="1,256", help="speed: batch sizes")
    parser.add_argument("--data-formats", default="channels_last", help="speed: image layouts")
    parser.add_argument("--seconds", type=float, default=1.0, help="speed: seconds per measurement")
    parser.add_argument("--budget", type=float, default=100.0, help="seconds per backend, both jobs")
    parser.add_argument("--fidelity-images", type=int, default=100, help="0: no fidelity job")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--depth-multiplier", type=float, default=1.0, help="a thinner network (smoke tests)")
    parser.add_argument("--torch-compile", action="store_true", help="torch.compile on the PyTorch backend")
    parser.add_argument("--json", default=None, help="write every row here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    if args.json:  # refused before minutes of work, not after them
        from inception_v2.errors import InputError
        from inception_v2.files import check_writable

        try:
            check_writable(args.json, args.overwrite)
        except InputError as e:
            hint = "; add --overwrite to replace it" if isinstance(e, FileExistsError) else ""
            print(f"bench_gpu: error: {e}{hint}", file=sys.stderr)
            return 2
    import tempfile

    import numpy as np

    settings = {
        "precisions": args.precisions.split(","),
        "batches": [int(b) for b in args.batches.split(",")],
        "data_formats": args.data_formats.split(","),
        "seconds": args.seconds,
        "image_size": args.image_size,
        "depth_multiplier": args.depth_multiplier,
        "torch_compile": args.torch_compile,
    }
    printer = Printer()
    rows: list[dict] = []

    def report(row: dict) -> None:
        rows.append(row)  # kept before printing: a closed stdout loses no measured row
        printer(row)

    try:
        with tempfile.TemporaryDirectory() as tmp:
            images = Path(tmp) / "images.npy"
            if args.fidelity_images:
                np.save(images, load_images(args.fidelity_images, args.image_size))
            for backend in args.backends.split(","):
                start = time.time()
                if args.fidelity_images:
                    job = {**settings, "job": "fidelity", "images": str(images), "budget": args.budget}
                    run_child(backend, job, report)
                if not args.no_speed:
                    left = max(args.budget - (time.time() - start), 0.0)
                    run_child(backend, {**settings, "job": "speed", "budget": left}, report)
    except KeyboardInterrupt:
        kept = f"; the rows measured so far ({len(rows)}) are in {args.json}" if args.json and rows else ""
        print(f"bench_gpu: interrupted{kept}", file=sys.stderr)
        status = 130
    except BrokenPipeError:  # `| head`: stop quietly; no second failure at the exit-time flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 141
    else:
        status = 0
    if args.json and (rows or status == 0):  # an interrupted run with nothing measured writes nothing
        from inception_v2.files import atomic_path

        with atomic_path(args.json, overwrite=args.overwrite) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
