"""``inception-v2 convert``: a slim checkpoint into Keras weights or a KerasHub preset."""

from __future__ import annotations

import argparse
import sys

from inception_v2.claims import FILE, FOLDER, Claims
from inception_v2.cli.options import EXIT_VERIFY_FAILED, add_command, positive_float, positive_int


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "convert",
        "convert a slim checkpoint into Keras weights",
        "Convert slim's inception_v2 checkpoint (V1 file, V2 prefix, directory or .tar.gz) into Keras "
        ".weights.h5 or .keras. With --verify, tf_slim's own graph is run on the same checkpoint first, "
        "and nothing is written if any end point differs beyond the tolerance.",
    )
    p.add_argument(
        "src",
        help="slim checkpoint: inception_v2.ckpt, a V2 prefix, a directory or a .tar.gz; 'imagenet'; "
        "or a converted or fine-tuned .weights.h5/.keras",
    )
    p.add_argument("dst", help="output: *.weights.h5 or *.keras; with --preset, a folder")
    p.add_argument(
        "--preset",
        action="store_true",
        help="write DST as a KerasHub preset folder (classifier, backbone, preprocessor, model card) "
        'that keras_hub\'s from_preset loads (pip install "inception_v2[hub]")',
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace DST if it exists (a preset folder only if convert wrote it)",
    )
    p.add_argument("--ema", action="store_true", help="take each variable's moving-average shadow")
    p.add_argument("--verify", action="store_true", help="compare every end point with tf_slim's graph")
    p.add_argument("--verify-batch", type=positive_int, default=2, metavar="N", help="images to verify on")
    p.add_argument(
        "--tolerance",
        type=positive_float,
        default=1e-4,
        help="max |Keras - slim| allowed per end point, times max(1, max |slim|) of that end point",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("SRC", args.src)
        .writes("DST", args.dst, FOLDER if args.preset else FILE)
    )


def run(args: argparse.Namespace) -> int:
    import json

    from inception_v2.errors import VerificationError
    from inception_v2.weights.convert import convert_checkpoint

    write = convert_checkpoint
    if args.preset:
        from inception_v2.hub.models import write_preset as write  # MissingExtra without keras-hub

    try:
        result = write(
            args.src,
            args.dst,
            overwrite=args.overwrite,
            use_ema=args.ema,
            verify=args.verify,
            verify_batch=args.verify_batch,
            tolerance=args.tolerance,
        )
    except VerificationError as e:
        print(e.conversion.summary())
        print(f"inception-v2 convert: verification failed, {args.dst} not written: {e}", file=sys.stderr)
        return EXIT_VERIFY_FAILED
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(result.summary())
    if args.verify:
        print(f"OK: every end point within {args.tolerance:g} x max(1, max |slim|) of slim's graph")
    return 0
