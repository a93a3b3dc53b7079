"""``inception-v2 predict``: the top classes of image files, printed as they stream."""

from __future__ import annotations

import argparse
import sys

from inception_v2.claims import Claims
from inception_v2.cli.options import (
    RUNNABLE_HELP,
    add_command,
    add_precision_options,
    positive_int,
    prepare_speed_plan,
    say,
    speed_plan,
)


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
    add_precision_options(p)
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command)
        .reads("--weights", args.weights)
        .reads("IMAGES", args.images)
        .reads("--calibration", args.calibration)
    )


def run(args: argparse.Namespace) -> int:
    import json

    from inception_v2.inference.classify import predict_files

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
