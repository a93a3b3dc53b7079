"""``inception-v2 quantize``: an int8 model saved for OpenVINO."""

from __future__ import annotations

import argparse

from inception_v2.claims import FOLDER, Claims
from inception_v2.cli.options import WEIGHTS_HELP, add_calibration_option, add_command, positive_int, say


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "quantize",
        "save an int8 model for OpenVINO (NNCF post-training quantization)",
        "Quantize the classifier of --weights to int8 with NNCF's post-training quantization on "
        "--calibration images, and save it (OpenVINO IR and quantized.json: classes, preprocessing, "
        "source and its SHA-384, calibration set, versions) in --out, atomically. eval and predict "
        'take --out as --weights and run it without recalibrating (pip install "inception_v2[openvino]").',
    )
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--out", required=True, help="the folder to create")
    add_calibration_option(p)
    p.add_argument(
        "--calibration-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="use N images (refused if the folder has fewer); default: all, at most 300",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if quantize wrote it")
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("--weights", args.weights)
        .reads("--calibration", args.calibration)
        .writes("--out", args.out, FOLDER)
    )


def run(args: argparse.Namespace) -> int:
    from inception_v2.data.calibration import calibration_images
    from inception_v2.inference.quantized import quantize_weights

    calibration = calibration_images(args.calibration, args.calibration_size)
    say(args, f"int8: calibrating on {calibration.describe()}")
    record = quantize_weights(args.weights, args.out, calibration, overwrite=args.overwrite)
    from inception_v2.export.verify import compare_with_keras
    from inception_v2.inference.quantized import load_quantized
    from inception_v2.weights.factory import build_from_weights

    # What int8 costs, reported and not judged: the saved model, fed each file decoded at its own
    # size, against the float32 Keras model it came from.
    fed = "decoded uint8, each at its own size"
    agreement = compare_with_keras(build_from_weights(args.weights)[0], load_quantized(args.out)[0], fed)
    line = agreement.line(judged=False).removeprefix("verify: ")
    say(args, f"int8 against float32 (reported, not judged): {line}")
    print(
        f"{args.weights} -> {args.out} (int8, {record.classes} classes; calibrated on {record.calibration})"
    )
    return 0
