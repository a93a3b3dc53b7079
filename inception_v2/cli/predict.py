"""``inception-v2 predict``: the top classes of image files, printed as they stream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inception_v2.claims import FOLDER, Claims
from inception_v2.cli.options import (
    RUNNABLE_HELP,
    add_command,
    add_precision_options,
    positive_int,
    prepare_speed_plan,
    say,
    speed_plan,
)
from inception_v2.errors import InvalidArgument


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "predict",
        "top classes of image files (or folders of them)",
        "Classify images with slim's eval preprocessing: ImageNet names for slim's weights, the "
        "class names of a fine-tuned model (its classes.json, written by finetune beside the model). "
        "A file that cannot be decoded is skipped with a note; the others are still classified. "
        "Streamed: results are printed a batch at a time, memory stays flat.",
    )
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, GIF, BMP, WebP) or folders of them")
    p.add_argument("--recursive", action="store_true", help="look in the folders' sub-folders too")
    p.add_argument("--weights", default="imagenet", help=RUNNABLE_HELP)
    p.add_argument("--top", type=positive_int, default=5, help="classes shown per image")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per batch")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--runner",
        choices=("local", "beam"),
        default="local",
        help="beam: Apache Beam's RunInference over an exported model (--weights: what export wrote), "
        "writing sharded JSON lines into --out; the DirectRunner with two worker processes unless "
        "--pipeline-options names another (Dataflow, Flink, Spark)",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="--runner beam: the folder for the JSON lines")
    p.add_argument(
        "--pipeline-options",
        default=None,
        metavar="FLAGS",
        help="--runner beam: Beam's own pipeline flags, quoted as one argument "
        "(default: --runner=DirectRunner --direct_num_workers=2 --direct_running_mode=multi_processing)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an --out folder this command wrote")
    add_precision_options(p)
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("--weights", args.weights)
        .reads("IMAGES", args.images)
        .reads("--calibration", args.calibration)
        .writes("--out", args.out, FOLDER)
    )


def run(args: argparse.Namespace) -> int:
    import json

    from inception_v2.inference.classify import predict_files

    if args.runner == "beam":
        return run_beam(args)
    if args.out or args.pipeline_options:
        raise InvalidArgument("--out and --pipeline-options are for --runner beam")
    plan = speed_plan(args)
    calibration = prepare_speed_plan(args, plan)
    predictions = predict_files(
        args.weights,
        args.images,
        recursive=args.recursive,
        top=args.top,
        batch_size=args.batch_size,
        precision=plan.precision,
        engine=plan.engine,
        # On a terminal only: off one, stdout's results are the progress.
        show_progress=not args.quiet and sys.stderr.isatty(),
        calibration=calibration,
    )
    first = True
    for prediction in predictions:
        if prediction.error:
            say(args, f"skipped: {prediction.image}: {prediction.error}")
            continue
        if args.json:  # one JSON array, written as it grows
            print(("[\n" if first else ",\n") + _indented(json.dumps(prediction.to_dict(), indent=2)), end="")
        else:
            _print_prediction(prediction)
        first = False
        sys.stdout.flush()
    if args.json:
        print("[]" if first else "\n]")
    return 0


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _print_prediction(prediction) -> None:
    print(prediction.image)
    for rank, entry in enumerate(prediction.top, 1):
        name, synset = entry["name"], entry["synset"]
        label = name if synset == name else f"{synset}  {name}"
        print(f"  {rank}. {entry['probability']:7.2%}  {label}")


def run_beam(args: argparse.Namespace) -> int:
    """``--runner beam``: the exported model over the files with Beam's RunInference."""
    import importlib.util
    import shlex

    from inception_v2.data.sources import image_files
    from inception_v2.errors import MissingExtra
    from inception_v2.files import atomic_folder, check_output_folder
    from inception_v2.inference.served import is_served

    if not args.out:
        raise InvalidArgument("--runner beam writes JSON lines into a folder: give --out DIR")
    if not is_served(args.weights):
        raise InvalidArgument(
            f"--runner beam runs an exported model; {args.weights} is not one (inception-v2 export "
            "writes it: a SavedModel folder, .onnx, .tflite or .xml)"
        )
    speed_plan(args)  # an export runs as it was written: --precision and such are refused
    if importlib.util.find_spec("apache_beam") is None:
        raise MissingExtra.named("beam", "--runner beam needs Apache Beam")
    check_output_folder(args.out, args.overwrite, "predict")
    files = [f.resolve() for f in image_files(args.images, recursive=args.recursive)]  # for every worker
    from inception_v2.inference.beam import DEFAULT_PIPELINE_ARGS, predict_with_beam

    pipeline_args = shlex.split(args.pipeline_options) if args.pipeline_options else DEFAULT_PIPELINE_ARGS
    say(args, f"beam: {len(files)} file(s) through {args.weights} ({' '.join(pipeline_args)})")
    with atomic_folder(args.out, args.overwrite, "predict", weights=str(args.weights)) as staging:
        predict_with_beam(
            Path(args.weights).resolve(), files, staging, top=args.top, pipeline_args=pipeline_args
        )
    print(args.out)
    return 0
