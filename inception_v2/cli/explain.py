"""``inception-v2 explain``: Grad-CAM sheets of each image's top classes."""

from __future__ import annotations

import argparse

from inception_v2.cli.options import WEIGHTS_HELP, add_command, positive_int
from inception_v2.errors import InvalidArgument


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
    p.add_argument("--end-point", default="Mixed_5c", help="slim's end point whose activations are weighed")
    p.add_argument("--top", type=positive_int, default=3, help="classes per image")
    p.add_argument("--overwrite", action="store_true", help="replace --out if explain wrote it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from inception_v2.architecture import END_POINTS
    from inception_v2.files import check_output_folder

    if args.end_point not in END_POINTS:
        raise InvalidArgument(f"--end-point {args.end_point}: unknown; choose from {', '.join(END_POINTS)}")
    check_output_folder(args.out, args.overwrite, "explain")  # before the model loads
    from inception_v2.explain import explain_images

    for sheet in explain_images(
        args.weights, args.images, args.out, args.end_point, args.top, args.overwrite
    ):
        print(sheet)
    return 0


# ----------------------------------------------------------------------------- quantize
