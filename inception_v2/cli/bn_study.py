"""``inception-v2 bn-study``: Batch Normalization's comparison in miniature."""

from __future__ import annotations

import argparse
import os

from inception_v2.claims import OTHER, Claims
from inception_v2.cli.options import add_command, positive_float, positive_int, say, settings_from_args


def add(subparsers) -> None:
    from inception_v2.studies.bn.study import StudySettings

    defaults = StudySettings()
    p = add_command(
        subparsers,
        "bn-study",
        "Batch Normalization's training speed-up, reproduced in minutes (figure + table)",
        "Train the networks that Ioffe & Szegedy (2015) compare - Inception without batch norm, "
        "BN-Baseline, BN-x5, BN-x30, BN-x5-Sigmoid, and Inception-Sigmoid (the paper's negative "
        "result) - from the same initialisation on the same batches, and write the paper's figure "
        "(validation accuracy vs steps, OUT/curves.png) and table (steps to Inception's best accuracy, "
        "best accuracy: stdout, OUT/table.csv, OUT/table.json). Default data: scikit-learn's "
        "handwritten digits, upsampled (pip install 'inception-v2[study]'). About 15 minutes on 2 "
        "CPU cores with the defaults; re-running the same command resumes a killed study.",
    )
    p.add_argument("--data", default=None, help="class folders of your own (default: scikit-learn's digits)")
    p.add_argument("--out", default="bn_study", help="output folder (figure, table, curves, models)")
    for option, kind, help in (
        ("--steps", positive_int, "training steps per variant"),
        ("--batch-size", positive_int, "images per step"),
        ("--learning-rate", positive_float, "base rate (Inception, BN-Baseline); BN-x5/x30 use 5x/30x"),
        ("--depth-multiplier", positive_float, "slim's channel factor"),
        ("--image-size", positive_int, "pixels per side"),
        ("--eval-every", positive_int, "steps between evaluations"),
        ("--validation-split", float, "share of each class held out"),
        ("--batch-norm-momentum", float, "of the moving statistics"),
        ("--seed", int, "for the split, the batches and the weights"),
    ):
        default = getattr(defaults, option[2:].replace("-", "_"))
        p.add_argument(option, type=kind, default=default, help=help)
    p.add_argument(
        "--variants", default=",".join(defaults.variants), help="comma-separated, from the list above"
    )
    p.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh: delete the files of the study in --out (only those), whatever its state",
    )
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return Claims(args.command, args.overwrite).reads("--data", args.data).writes("--out", args.out, OTHER)


def run(args: argparse.Namespace) -> int:
    import json

    from inception_v2.progress import Progress
    from inception_v2.studies.bn.study import StudySettings, run_study

    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    settings = settings_from_args(StudySettings, args, variants=variants)  # run_study checks them
    progress = None
    if not args.quiet:
        progress = Progress(settings.steps * settings.batch_size * len(settings.variants))
    result = run_study(
        settings, args.out, overwrite=args.overwrite, progress=progress.update if progress else None
    )
    if progress:
        progress.close()
    text = result.pop("text")
    print(json.dumps(result, indent=2) if args.json else text)
    say(args, f"figure: {os.path.join(args.out, 'curves.png')}; table: {os.path.join(args.out, 'table.csv')}")
    return 0
