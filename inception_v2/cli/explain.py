"""``inception-v2 explain``: Grad-CAM sheets of each image's top classes."""

from __future__ import annotations

import argparse

from inception_v2.claims import FOLDER, Claims
from inception_v2.cli.options import WEIGHTS_HELP, add_command, positive_int, say
from inception_v2.model.architecture import BASE_END_POINTS  # standard library only


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "explain",
        "Grad-CAM overlays of each image's top classes (a look at why)",
        "For each image, one PNG sheet in --out: the photo with the central crop the network sees "
        "marked, then that crop with the Grad-CAM map of each of its top classes laid over it, named "
        "with the class and its probability.",
    )
    p.add_argument("images", nargs="+", help="image files or folders of them")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--out", required=True, help="the folder to create")
    p.add_argument("--recursive", action="store_true", help="look in the folders' sub-folders too")
    p.add_argument(
        "--end-point",
        default="Mixed_5c",
        choices=BASE_END_POINTS,
        metavar="END_POINT",
        help=f"slim's end point whose activations are weighed: {', '.join(BASE_END_POINTS)}",
    )
    p.add_argument("--top", type=positive_int, default=5, help="classes per image")
    p.add_argument("--overwrite", action="store_true", help="replace --out if explain wrote it")
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("IMAGES", args.images)
        .reads("--weights", args.weights)
        .writes("--out", args.out, FOLDER)
    )


def run(args: argparse.Namespace) -> int:
    from inception_v2.explain.sheets import explain_images

    sheets, skipped = explain_images(
        args.weights,
        args.images,
        args.out,
        args.end_point,
        args.top,
        args.overwrite,
        recursive=args.recursive,
        show_progress=not args.quiet,
    )
    for path in skipped:
        say(args, f"skipped: {path}: not a readable image")
    for sheet in sheets:
        print(sheet)
    return 0
