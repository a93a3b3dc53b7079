"""``inception-v2 finetune``: train on class folders, resumable."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from inception_v2.claims import FOLDER, OTHER, Claims
from inception_v2.cli.options import (
    WEIGHTS_HELP,
    add_command,
    positive_float,
    positive_int,
    settings_from_args,
)


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "finetune",
        "fine-tune on a folder of class sub-folders (resumable)",
        "Train a new head (or more) on class folders: DATA/train + DATA/val, or DATA's class folders "
        "split by --validation-split. Re-running the same command resumes. Progress goes to stderr, "
        "the final summary (JSON) to stdout. Try it: inception-v2 example-data ants_bees.",
    )
    p.add_argument("--data", required=True, help="class folders, or a folder holding train/ and val/")
    p.add_argument("--out", required=True, help="output folder (models, curves, logs, backup)")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--epochs", type=positive_int, default=5, help="epochs in all (a resumed run counts on)")
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="images per step (default: 32, or every training image when there are fewer)",
    )
    p.add_argument(
        "--train", default="head", help="'head', 'all', or the end point (e.g. Mixed_5a) to train from"
    )
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="sgd: with momentum")
    p.add_argument("--learning-rate", type=positive_float, default=1e-3, help="use ~1e-5 with --train all")
    p.add_argument("--momentum", type=float, default=0.9, help="for --optimizer sgd")
    p.add_argument(
        "--train-batch-norm",
        action="store_true",
        help="update batch-norm statistics in the trained part (default: frozen)",
    )
    p.add_argument("--batch-norm-momentum", type=float, default=0.99, help="with --train-batch-norm")
    p.add_argument("--no-color-distortion", action="store_true", help="skip slim's colour augmentation")
    p.add_argument(
        "--validation-split", type=float, default=0.2, help="held out when DATA has no train/ and val/"
    )
    p.add_argument(
        "--mixed-precision",
        action="store_true",
        help="mixed_bfloat16 on CPU, mixed_float16 on GPU (batch norm, logits in float32)",
    )
    p.add_argument("--save-every", type=positive_int, default=20, help="back up every N steps and each epoch")
    p.add_argument("--max-steps-per-epoch", type=positive_int, default=None, help="cap on steps per epoch")
    p.add_argument(
        "--distribute",
        choices=("mirrored",),
        default=None,
        help="data-parallel training over this host's devices (tf.distribute.MirroredStrategy)",
    )
    p.add_argument("--seed", type=int, default=0, help="for the split, augmentation and new weights")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh: delete the files of the run in --out (only those), whatever its state; "
        "replace --preset if inception-v2 wrote it",
    )
    p.add_argument(
        "--preset",
        default=None,
        metavar="DIR",
        help="also write the best model as a KerasHub preset folder (see convert --preset)",
    )
    p.set_defaults(run=run, claims=claims)


def finetune_settings(args: argparse.Namespace):
    """The ``RunSettings`` of a parsed ``finetune`` command line."""
    from inception_v2.precision import mixed_policy
    from inception_v2.training.run import RunSettings

    dtype = mixed_policy() if args.mixed_precision else None
    return settings_from_args(RunSettings, args, color_distortion=not args.no_color_distortion, dtype=dtype)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("--data", args.data)
        .reads("--weights", args.weights)
        .writes("--out", args.out, OTHER)  # a run folder: train.finetune checks its state
        .writes("--preset", args.preset, FOLDER, owner="convert")  # presets carry convert's mark
    )


def run(args: argparse.Namespace) -> int:
    import json

    from inception_v2.training.run import finetune

    if args.preset:
        from inception_v2.hub.models import check_preset_output, write_preset

        check_preset_output(args.preset, args.overwrite)  # before training; MissingExtra without keras-hub
    # Keras writes its progress bar to stdout: send it to stderr, one line per epoch off a terminal.
    verbose = 0 if args.quiet else (1 if sys.stderr.isatty() else 2)
    with contextlib.redirect_stdout(sys.stderr):
        result = finetune(finetune_settings(args), args.out, verbose=verbose, overwrite=args.overwrite)
    if args.preset:
        write_preset(os.path.join(args.out, "best.weights.h5"), args.preset, overwrite=args.overwrite)
        result["preset"] = args.preset
    print(json.dumps(result, indent=2))
    return 0
