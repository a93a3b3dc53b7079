#!/usr/bin/env python3
"""The port on an accelerator: JAX and PyTorch backends, float32 and bfloat16, batch 1 and 256.

Made for a GPU machine without TensorFlow (keras, jax, torch only): random weights (speed
does not depend on their values), batch norm folded, inputs already on the device, one
process per Keras backend. Prints a table and writes JSON with images/s and achieved
TFLOP/s against the card's dense peak where the card is known. On a CPU it runs too
(``--batches 1,2 --seconds 0.5`` is a smoke test), with no peak to compare against.

    python scripts/bench_gpu.py --json gpu.json [--torch-compile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GFLOP_PER_IMAGE = 3.87  # 1.935 G multiply-adds at 224x224
# Dense tensor-core peaks from NVIDIA's datasheets (TFLOP/s); float32 runs as TF32 where the
# backend allows it (JAX's default precision on these cards), so its peak is TF32's.
PEAK_TFLOPS = {
    "H100 80GB HBM3": {"bfloat16": 989.4, "float32": 494.7},  # SXM5
    "H100 PCIe": {"bfloat16": 756.0, "float32": 378.0},
    "H200": {"bfloat16": 989.4, "float32": 494.7},
}

CHILD = """
import json, sys, time
import numpy as np
import keras
from inception_v2.inference import inference_function
from inception_v2.model import InceptionV2

backend = keras.backend.backend()
batches, dtypes, seconds, torch_compile = json.loads(sys.argv[1])
if backend == "jax":
    import jax
    device = jax.devices()[0]
    device_name = getattr(device, "device_kind", str(device))
    to_device = lambda x: jax.device_put(x, device)
else:
    import torch
    cuda = torch.cuda.is_available()
    device_name = torch.cuda.get_device_name(0) if cuda else "cpu"
    to_device = lambda x: torch.from_numpy(x).to("cuda" if cuda else "cpu")
rows = []
for dtype in dtypes:
    model = InceptionV2(classifier_activation=None, fold_batch_norm=True, dtype=dtype)
    run = inference_function(model, torch_compile=torch_compile)
    for batch in batches:
        x = to_device(np.random.default_rng(0).uniform(-1, 1, (batch, 224, 224, 3)).astype(np.float32))
        start = time.perf_counter()
        run(x)
        first = time.perf_counter() - start
        run(x)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or n < 3:
            run(x)  # returns NumPy: each call waits for the device
            n += 1
        rate = n * batch / (time.perf_counter() - start)
        rows.append({"dtype": dtype, "batch": batch, "images_per_s": rate, "first_call_s": first})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
print(json.dumps({"backend": backend, "device": device_name, "rows": rows}))
"""


def bench(backend: str, batches: list[int], dtypes: list[str], seconds: float, torch_compile: bool) -> dict:
    """One Keras backend in its own process (Keras fixes the backend at import)."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    args = json.dumps([batches, dtypes, seconds, torch_compile])
    done = subprocess.run([sys.executable, "-c", CHILD, args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return {"backend": backend, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_for(device: str) -> dict[str, float] | None:
    return next((peak for name, peak in PEAK_TFLOPS.items() if name in device), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="jax,torch")
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per measurement")
    parser.add_argument("--torch-compile", action="store_true", help="torch.compile on the PyTorch backend")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    dtypes = args.dtypes.split(",")
    results = [bench(b, batches, dtypes, args.seconds, args.torch_compile) for b in args.backends.split(",")]
    for result in results:
        if "error" in result:
            print(f"[{result['backend']}] not measured: {result['error']}")
            continue
        peak = peak_for(result["device"])
        print(f"[{result['backend']} backend on {result['device']}]")
        for row in result["rows"]:
            tflops = row["images_per_s"] * GFLOP_PER_IMAGE / 1000
            row["tflops"] = tflops
            share = f" = {100 * tflops / peak[row['dtype']]:.1f}% of {peak[row['dtype']]:.0f}" if peak else ""
            print(
                f"  {row['dtype']:<9} batch {row['batch']:>4}: {row['images_per_s']:10.1f} images/s, "
                f"{tflops:7.2f} TFLOP/s{share} (first call {row['first_call_s']:.1f} s)"
            )
    if args.json:
        from inception_v2.files import atomic_path

        with atomic_path(args.json, overwrite=True) as tmp:
            tmp.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
