"""``inception-v2 make-test-checkpoint``: a random slim checkpoint built by tf_slim."""

from __future__ import annotations

import argparse

from inception_v2.claims import OTHER, Claims
from inception_v2.cli.options import add_command, positive_float, positive_int
from inception_v2.files import refuse_existing
from inception_v2.model.architecture import NUM_CLASSES  # standard library only


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "make-test-checkpoint",
        "write a random slim checkpoint built by tf_slim (for tests and offline demos)",
        "Build tf_slim's inception_v2 with random weights and realistic batch-norm statistics and "
        "save it as slim's Saver does. Not a trained network.",
    )
    p.add_argument("dst", help="checkpoint path to write (V1 file or V2 prefix)")
    p.add_argument("--classes", type=positive_int, default=NUM_CLASSES, help="size of the Logits layer")
    p.add_argument("--depth-multiplier", type=positive_float, default=1.0, help="slim's depth_multiplier")
    p.add_argument("--min-depth", type=positive_int, default=16, help="slim's min_depth")
    p.add_argument("--format", choices=("V1", "V2"), default="V1", help="V1: slim's 2016 single file")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights")
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return Claims(args.command).writes("DST", args.dst, OTHER)


def run(args: argparse.Namespace) -> int:
    from inception_v2.weights.slim_reference import random_slim_variables, save_slim_variables

    for path in (args.dst, args.dst + ".index"):  # a V1 file, or a V2 prefix's index
        refuse_existing(path, hint="name a new checkpoint")
    variables = random_slim_variables(args.classes, args.depth_multiplier, args.min_depth, args.seed)
    print(save_slim_variables(variables, args.dst, args.format))
    return 0
