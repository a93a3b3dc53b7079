"""``inception-v2 example-data``: the bundled ants/bees photos, to try finetune on."""

from __future__ import annotations

import argparse

from inception_v2.claims import OTHER, Claims
from inception_v2.cli.options import add_command


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "example-data",
        "write the bundled ants/bees image set (class folders) to try finetune on",
        "Copy the 36 ants and bees photos shipped with the package to DST/train/<class>/ and "
        "DST/val/<class>/, the layout finetune reads. Your own data: any folder of the same shape.",
    )
    p.add_argument("dst", help="folder to create (must not exist)")
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return Claims(args.command).writes("DST", args.dst, OTHER)


def run(args: argparse.Namespace) -> int:
    from inception_v2.data.example_data import write_example_data

    print(write_example_data(args.dst))
    return 0
