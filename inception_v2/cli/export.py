"""``inception-v2 export``: a classifier as SavedModel, LiteRT or ONNX."""

from __future__ import annotations

import argparse
import os

from inception_v2.claims import OTHER, Claims
from inception_v2.cli.options import WEIGHTS_HELP, add_command, say
from inception_v2.errors import InvalidArgument
from inception_v2.export.artifacts import FORMATS


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "export",
        "export a classifier that takes raw images: SavedModel, LiteRT, ONNX or OpenVINO IR",
        "Export a model for serving, slim's eval preprocessing inside. A SavedModel takes encoded "
        "images (JPEG, PNG, GIF, BMP; any size): signature serving_default, input 'images' (1-D "
        "string), outputs probabilities and the top 5 as classes, scores, labels; signature "
        "'preprocessed' takes the float batch. ONNX, LiteRT and OpenVINO IR files take 'images', uint8 "
        "(N, H, W, 3) at the image's own size, and give 'probabilities'; the labels travel inside. The "
        "format follows --out's extension (.tflite: LiteRT, .onnx: ONNX, .xml: OpenVINO IR with its "
        ".bin, none: a SavedModel folder; another extension is refused) unless --format names it. The "
        "file is verified on its own runtime before it takes its name (--no-verify: not).",
    )
    p.add_argument(
        "--weights",
        default="imagenet",
        help=WEIGHTS_HELP,
    )
    p.add_argument("--out", required=True, help="SavedModel folder, .tflite, .onnx or .xml file")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="default: --out's extension",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is an earlier export (a folder only if this command wrote it)",
    )
    p.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the written file on its own runtime over the bundled images against the Keras "
        "model; beyond 1e-4 of the largest probability it is not kept (exit 1)",
    )
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    claimed = Claims(args.command, args.overwrite).reads("--weights", args.weights)
    claimed.writes("--out", args.out, OTHER)
    if str(args.out).lower().endswith(".xml"):  # OpenVINO IR: its weights beside it
        claimed.writes("--out", os.path.splitext(args.out)[0] + ".bin", OTHER)
    return claimed


def run(args: argparse.Namespace) -> int:
    from inception_v2.export.artifacts import check_export

    fmt = check_export(args.out, args.format, args.overwrite)  # before the slow part

    from inception_v2.data.labels import labels_for
    from inception_v2.export.artifacts import export
    from inception_v2.weights.factory import build_from_weights

    model, config, _ = build_from_weights(args.weights)
    if config.classes is None:
        raise InvalidArgument(f"{args.weights}: has no Logits layer; an export classifies")
    written = export(
        model,
        args.out,
        fmt,
        overwrite=args.overwrite,
        source=str(args.weights),
        labels=labels_for(args.weights, config.classes)[0],
        verify=args.verify,
        say=lambda line: say(args, line),
    )
    print(written)
    return 0
