"""``inception-v2 export``: a classifier as SavedModel, LiteRT or ONNX."""

from __future__ import annotations

import argparse

from inception_v2.claims import OTHER, Claims
from inception_v2.cli.options import WEIGHTS_HELP, add_command


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "export",
        "export a classifier (probabilities out) as SavedModel, LiteRT or ONNX",
        "Export a model for serving: images preprocessed as for the model in, class probabilities "
        "out. The format follows --out's extension (.tflite: LiteRT, .onnx: ONNX, none: a SavedModel "
        "folder; another extension is refused) unless --format names it; a mismatch is refused.",
    )
    p.add_argument(
        "--weights",
        default="imagenet",
        help=WEIGHTS_HELP,
    )
    p.add_argument("--out", required=True, help="SavedModel folder, .tflite or .onnx file")
    p.add_argument(
        "--format",
        choices=("savedmodel", "litert", "onnx"),
        default=None,
        help="default: --out's extension",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is an earlier export (a folder only if this command wrote it)",
    )
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite).reads("--weights", args.weights).writes("--out", args.out, OTHER)
    )


def run(args: argparse.Namespace) -> int:
    from inception_v2.export.artifacts import check_export

    fmt = check_export(args.out, args.format, args.overwrite)  # before the slow part

    from inception_v2.export.artifacts import export
    from inception_v2.weights.factory import build_from_weights

    model, _, _ = build_from_weights(args.weights)
    print(export(model, args.out, fmt, overwrite=args.overwrite, source=str(args.weights)))
    return 0
