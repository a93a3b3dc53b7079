"""The ``inception-v2`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

# Quiet TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_BAD_INPUT = 2
EXIT_VERIFY_FAILED = 1


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inception-v2", description="TF-slim's Inception V2 in Keras 3: convert, evaluate, predict."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_convert(subparsers)
    _add_test_checkpoint(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TF1 deprecation notices
    try:
        return args.run(args)
    except (FileNotFoundError, FileExistsError, IsADirectoryError, ValueError, ImportError) as e:
        # Bad input: one clear line naming the file and the problem, no traceback.
        print(f"inception-v2 {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
