"""The ``inception-v2`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

# Quiet TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_WEIGHTS = 3  # the official weights could not be downloaded (offline)


def _add_convert(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a slim checkpoint into Keras weights",
        description="Convert slim's inception_v2 checkpoint (V1 file, V2 prefix, directory or "
        ".tar.gz) into Keras .weights.h5 or .keras, optionally verifying it against tf_slim's graph.",
    )
    p.add_argument("src", help="slim checkpoint: inception_v2.ckpt, a V2 prefix, a directory or a .tar.gz")
    p.add_argument("dst", help="output: *.weights.h5 or *.keras")
    p.add_argument("--overwrite", action="store_true", help="replace DST if it exists")
    p.add_argument(
        "--ema",
        action="store_true",
        help="take the ExponentialMovingAverage shadow of each variable where present",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="run tf_slim's graph on the same checkpoint and compare every end point",
    )
    p.add_argument("--verify-batch", type=int, default=2, metavar="N", help="images in the verify batch")
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="max |diff| allowed, times max(1, max |slim|) per end point (default 1e-4)",
    )
    p.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    from inception_v2.convert import DEFAULT_TOLERANCE, VerificationError, convert_checkpoint

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    try:
        result = convert_checkpoint(
            args.src,
            args.dst,
            overwrite=args.overwrite,
            use_ema=args.ema,
            verify=args.verify,
            verify_batch=args.verify_batch,
            tolerance=tolerance,
        )
    except VerificationError as e:
        print(e.conversion.summary())
        print(f"FAILED: {e}", file=sys.stderr)
        return EXIT_VERIFY_FAILED
    print(result.summary())
    if args.verify:
        print(f"OK: every end point within {tolerance:g} of slim's graph")
    return 0


def _add_test_checkpoint(subparsers) -> None:
    p = subparsers.add_parser(
        "make-test-checkpoint",
        help="write a random slim checkpoint built by tf_slim (for tests and offline demos)",
        description="Build tf_slim's inception_v2 with random weights and realistic batch-norm "
        "statistics and save it as slim's Saver does. Not a trained network.",
    )
    p.add_argument("dst", help="checkpoint path to write (V1 file or V2 prefix)")
    p.add_argument("--classes", type=int, default=1001)
    p.add_argument("--depth-multiplier", type=float, default=1.0)
    p.add_argument("--min-depth", type=int, default=16)
    p.add_argument("--format", choices=("V1", "V2"), default="V1", help="V1: slim's 2016 single file")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_test_checkpoint)


def _run_test_checkpoint(args: argparse.Namespace) -> int:
    from pathlib import Path

    from inception_v2.slim_reference import random_slim_variables, save_slim_variables

    if Path(args.dst).exists() or Path(args.dst + ".index").exists():
        raise FileExistsError(f"{args.dst}: already exists")
    variables = random_slim_variables(args.classes, args.depth_multiplier, args.min_depth, args.seed)
    print(save_slim_variables(variables, args.dst, args.format))
    return 0


def _add_example_data(subparsers) -> None:
    p = subparsers.add_parser(
        "example-data",
        help="write the bundled ants/bees image set (class folders) to try finetune on",
        description="Copy the 36 ants and bees photos shipped with the package to DIR/train/<class>/ "
        "and DIR/val/<class>/, the layout finetune reads. Your own data: any folder of the same shape.",
    )
    p.add_argument("dst", help="folder to create (must not exist)")
    p.set_defaults(run=_run_example_data)


def _run_example_data(args: argparse.Namespace) -> int:
    from inception_v2.example_data import write_example_data

    print(write_example_data(args.dst))
    return 0


def _add_eval(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate on ImageNet (or class folders) as slim's eval_image_classifier does",
        description="Top-1 / top-5 with slim's eval preprocessing and metrics. Data: slim's "
        "validation-*-of-00128 TFRecords, a folder of ILSVRC2012_val_*.JPEG, or class folders. "
        "Without --data, the 100 bundled ImageNet validation images.",
    )
    p.add_argument(
        "--weights",
        default="imagenet",
        help="'imagenet' (default), a slim checkpoint or converted .weights.h5/.keras",
    )
    p.add_argument("--data", default=None, help="TFRecord dir/glob, raw validation dir, or class folders")
    p.add_argument(
        "--ground-truth",
        default=None,
        help="50,000-line validation ground truth for a raw directory (default: bundled)",
    )
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N images")
    p.add_argument(
        "--labels-offset",
        type=int,
        default=None,
        help="subtract from labels (default: 0 for 1001-class models, 1 for 1000)",
    )
    p.add_argument("--strict", action="store_true", help="fail on the first unreadable image")
    p.add_argument("--predictions-csv", default=None, help="write every image's label and top-5")
    p.add_argument("--report", default=None, help="write the JSON report here")
    p.add_argument("--plot", default=None, help="write a per-class accuracy PNG here")
    p.add_argument("--overwrite", action="store_true", help="replace existing report/CSV/plot files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_precision_options(p)
    p.set_defaults(run=_run_eval)


def _add_precision_options(parser) -> None:
    from inception_v2.precision import DEFAULT_PRECISION, PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="float32: true float32, what reproduces slim (TF32 off on GPUs; the default); "
        "tf32: allow TF32 on GPUs (faster, ~1e-2 logit error); bfloat16: the fast path "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--fast",
        action="store_const",
        const="bfloat16",
        dest="precision",
        help="same as --precision bfloat16: batch norm folded, bfloat16 (AMX/AVX512-BF16 CPUs, GPUs); "
        "not bit for bit equal to float32",
    )


def _model_options(args: argparse.Namespace) -> dict:
    from inception_v2.precision import model_options

    return model_options(args.precision)


def _run_eval(args: argparse.Namespace) -> int:
    from inception_v2.data import open_data
    from inception_v2.evaluate import evaluate, plot_per_class
    from inception_v2.files import check_writable
    from inception_v2.labels import class_ids, class_names
    from inception_v2.weights import build_from_weights

    for output in (args.predictions_csv, args.report, args.plot):
        if output:
            check_writable(output, args.overwrite)
    data = open_data(args.data, args.ground_truth)
    model, config, _ = build_from_weights(args.weights, classifier_activation=None, **_model_options(args))
    classes = config.classes
    if classes is None:
        raise ValueError(f"{args.weights}: has no Logits layer; cannot classify")
    if data.imagenet:
        offset = 1001 - classes if args.labels_offset is None else args.labels_offset
        names = class_names(classes) if classes in (1000, 1001) else None
        ids = class_ids(classes) if classes in (1000, 1001) else None
    else:
        offset = args.labels_offset or 0
        names, ids = data.class_names, None
        if len(names) != classes:
            raise ValueError(f"{args.data}: {len(names)} class folders, but the model has {classes} classes")
    result = evaluate(
        model,
        data,
        batch_size=args.batch_size,
        limit=args.limit,
        labels_offset=offset,
        strict=args.strict,
        predictions_csv=args.predictions_csv,
        class_names=names,
        class_ids=ids,
        show_progress=not args.quiet,
        overwrite=args.overwrite,
        precision=args.precision,
    )
    result.weights = str(args.weights)
    print(result.table())
    if result.skipped:
        print(f"skipped {len(result.skipped)} unreadable image(s):", *result.skipped[:20], sep="\n  ")
    if args.report:
        from inception_v2.files import atomic_path

        with atomic_path(args.report, overwrite=args.overwrite) as tmp:
            tmp.write_text(result.to_json())
        print(f"report: {args.report}")
    if args.predictions_csv:
        print(f"predictions: {args.predictions_csv}")
    if args.plot:
        plot_per_class(result, args.plot, names, overwrite=args.overwrite)
        print(f"plot: {args.plot}")
    return 0


def _add_predict(subparsers) -> None:
    p = subparsers.add_parser("predict", help="top-5 ImageNet classes of image files")
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, GIF, BMP)")
    p.add_argument("--weights", default="imagenet")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_precision_options(p)
    p.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from inception_v2.inference import predict
    from inception_v2.labels import decode_predictions
    from inception_v2.preprocessing import load_for_eval
    from inception_v2.weights import build_from_weights

    images = []
    for path in args.images:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such image file")
        try:
            images.append(load_for_eval(path))
        except Exception as e:  # TensorFlow raises several types for undecodable data
            raise ValueError(f"{path}: cannot be decoded as an image ({type(e).__name__})") from None
    model, _, _ = build_from_weights(args.weights, **_model_options(args))
    probabilities = predict(model, np.stack(images), batch_size=32, precision=args.precision)
    decoded = decode_predictions(probabilities, top=args.top)
    if args.json:
        out = [
            {"image": path, "top": [{"synset": s, "name": n, "probability": p} for s, n, p in top]}
            for path, top in zip(args.images, decoded, strict=True)
        ]
        print(json.dumps(out, indent=2))
        return 0
    for path, top in zip(args.images, decoded, strict=True):
        print(path)
        for rank, (synset, name, prob) in enumerate(top, 1):
            print(f"  {rank}. {prob:7.2%}  {synset}  {name}")
    return 0


def _add_bench(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="race the Keras port against tf_slim's graph (speed, pipeline, memory, converter)",
        description="One run on this machine: images/s of slim's TF1 graph and of the Keras port "
        "(call, predict, folded BN, bf16 fast path, XLA) at several batch sizes on each Keras "
        "backend installed, input pipeline vs model, eval peak memory, converter time.",
    )
    p.add_argument("--json", default="bench.json", help="write the results here (default bench.json)")
    p.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per measurement")
    p.add_argument("--backends", default="tensorflow,jax,torch", help="Keras backends to measure")
    p.add_argument("--quick", action="store_true", help="1 round of 1 s: a smoke run, not numbers to quote")
    p.add_argument(
        "--torch-compile",
        action="store_true",
        help="also time torch.compile on the PyTorch backend (~2 min of compiling per batch size and model)",
    )
    p.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from inception_v2.bench import run

    run(
        out=args.json,
        batches=tuple(int(b) for b in args.batches.split(",")),
        rounds=args.rounds,
        seconds=args.seconds,
        backends=tuple(args.backends.split(",")),
        quick=args.quick,
        torch_compile=args.torch_compile,
    )
    return 0


def _add_finetune(subparsers) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune on a folder of class sub-folders (resumable)",
        description="Train a new head (or more) on class folders: DATA/train + DATA/val, or DATA's "
        "class folders split by --validation-split. Re-running the same command resumes.",
    )
    p.add_argument("--data", required=True, help="class folders, or a folder holding train/ and val/")
    p.add_argument("--out", required=True, help="output folder (models, curves, logs, backup)")
    p.add_argument("--weights", default="imagenet", help="'imagenet', a slim checkpoint or converted file")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--train",
        default="head",
        help="'head', 'all', or an end point (e.g. Mixed_5a) from which on to train",
    )
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument(
        "--learning-rate", type=float, default=1e-3, help="default 1e-3 (head); use ~1e-5 with --train all"
    )
    p.add_argument("--momentum", type=float, default=0.9, help="for --optimizer sgd")
    p.add_argument(
        "--train-batch-norm",
        action="store_true",
        help="update batch-norm statistics in the trained part (default: frozen)",
    )
    p.add_argument("--batch-norm-momentum", type=float, default=0.99)
    p.add_argument("--no-color-distortion", action="store_true")
    p.add_argument("--validation-split", type=float, default=0.2)
    p.add_argument(
        "--mixed-precision",
        action="store_true",
        help="mixed_bfloat16 on CPU, mixed_float16 on GPU (batch norm, logits in float32)",
    )
    p.add_argument("--save-every", type=int, default=20, help="back up every N steps (and each epoch)")
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument(
        "--distribute",
        choices=("mirrored",),
        default=None,
        help="data-parallel training over this host's devices (tf.distribute.MirroredStrategy)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_run_finetune)


def finetune_settings(args: argparse.Namespace):
    """The ``RunSettings`` of a parsed ``finetune`` command line.

    Every option named like a ``RunSettings`` field is copied by name, so a new option
    cannot be silently dropped; the two that are spelled differently are mapped here.
    """
    import dataclasses

    from inception_v2.train import RunSettings

    same_name = {
        f.name: getattr(args, f.name) for f in dataclasses.fields(RunSettings) if hasattr(args, f.name)
    }
    dtype = None
    if args.mixed_precision:
        import tensorflow as tf

        dtype = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    return RunSettings(**same_name, color_distortion=not args.no_color_distortion, dtype=dtype)


def _run_finetune(args: argparse.Namespace) -> int:
    import json

    from inception_v2.train import finetune

    result = finetune(finetune_settings(args), args.out)
    print(json.dumps(result, indent=2))
    return 0


def _add_export(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a classifier (probabilities out) as SavedModel, LiteRT or ONNX"
    )
    p.add_argument("--weights", required=True, help="'imagenet', a slim checkpoint, or a (fine-tuned) .keras")
    p.add_argument("--out", required=True, help="SavedModel folder, .tflite or .onnx file")
    p.add_argument("--format", choices=("savedmodel", "litert", "onnx"), default="savedmodel")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from inception_v2.export import export
    from inception_v2.weights import build_from_weights

    model, _, _ = build_from_weights(args.weights)
    print(export(model, args.out, args.format, overwrite=args.overwrite))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inception-v2", description="TF-slim's Inception V2 in Keras 3: convert, evaluate, predict."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_convert(subparsers)
    _add_eval(subparsers)
    _add_predict(subparsers)
    _add_bench(subparsers)
    _add_finetune(subparsers)
    _add_export(subparsers)
    _add_test_checkpoint(subparsers)
    _add_example_data(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TF1 deprecation notices
    from inception_v2.download import DownloadError

    try:
        return args.run(args)
    except DownloadError as e:
        print(f"inception-v2 {args.command}: error: {e}", file=sys.stderr)
        return EXIT_NO_WEIGHTS
    except (FileNotFoundError, FileExistsError, IsADirectoryError, ValueError, ImportError) as e:
        # Bad input: one clear line naming the file and the problem, no traceback.
        print(f"inception-v2 {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
