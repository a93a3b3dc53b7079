"""``inception-v2 eval``: top-1/top-5 with slim's protocol, and the report's files."""

from __future__ import annotations

import argparse
import os

from inception_v2.claims import Claims
from inception_v2.cli.options import (
    RUNNABLE_HELP,
    add_command,
    add_precision_options,
    positive_int,
    prepare_speed_plan,
    say,
    speed_plan,
    write_report,
)
from inception_v2.errors import InvalidArgument
from inception_v2.inference.served import is_served


def add(subparsers) -> None:
    p = add_command(
        subparsers,
        "eval",
        "evaluate on ImageNet (or class folders) as slim's eval_image_classifier does",
        "Top-1 / top-5 with slim's eval preprocessing and metrics. Data: slim's "
        "validation-*-of-00128 TFRecords, a folder of ILSVRC2012_val_*.JPEG, or class folders. "
        "Without --data, the 100 ImageNet validation images bundled with the package.",
    )
    p.add_argument("--weights", default="imagenet", help=RUNNABLE_HELP)
    p.add_argument("--data", default=None, help="TFRecord dir/glob, raw validation dir, or class folders")
    p.add_argument(
        "--ground-truth", default=None, help="50,000-line ground truth for a raw folder (default: bundled)"
    )
    p.add_argument(
        "--dataset",
        choices=("imagenet-a", "imagenet-r"),
        default=None,
        help="--data holds synset folders of some of ImageNet-A's or -R's 200 classes: score the argmax "
        "over those 200 classes' logits, as timm does (a folder of exactly their 200 is recognised)",
    )
    p.add_argument("--batch-size", type=positive_int, default=50, help="images per batch")
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate only the first N images")
    p.add_argument(
        "--labels-offset",
        type=int,
        default=None,
        help="subtract from labels (default: 0 for 1001-class models, 1 for 1000)",
    )
    p.add_argument("--strict", action="store_true", help="fail on the first unreadable image")
    p.add_argument("--predictions-csv", default=None, metavar="FILE", help="every image's label and top 5")
    p.add_argument("--report", default=None, metavar="FILE", help="write the JSON report here")
    p.add_argument("--plot", default=None, metavar="FILE", help="write a per-class accuracy PNG here")
    p.add_argument(
        "--mistakes",
        type=positive_int,
        default=None,
        metavar="N",
        help="with --out-mistakes: a sheet of the N most confident wrong predictions under Grad-CAM",
    )
    p.add_argument("--out-mistakes", default=None, metavar="FILE", help="the mistakes sheet (PNG)")
    p.add_argument(
        "--real-labels",
        default=None,
        metavar="FILE",
        help="ReaL labels (JSON, 50,000 lists) for ReaL top-1 on ILSVRC2012 validation images; "
        "default: the copy bundled with the package",
    )
    p.add_argument(
        "--plot-calibration",
        default=None,
        metavar="FILE",
        help="write the reliability diagram (accuracy per top-1 confidence bin, ECE, NLL) as a PNG here",
    )
    p.add_argument(
        "--timm-csv",
        default=None,
        metavar="FILE",
        help="the result as a row of timm's results CSV (model, top1, top1_err, top5, top5_err, "
        "param_count, img_size, crop_pct, interpolation)",
    )
    p.add_argument(
        "--model-name",
        default=None,
        help="--timm-csv's model column (default: inception_v2.tf_in1k for slim's weights, else the "
        "weights' file name)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.add_argument("--overwrite", action="store_true", help="replace existing report/CSV/plot files")
    add_precision_options(p)
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("--weights", args.weights)
        .reads("--data", args.data)
        .reads("--ground-truth", args.ground_truth)
        .reads("--real-labels", args.real_labels)
        .reads("--calibration", args.calibration)
        .writes("--report", args.report)
        .writes("--predictions-csv", args.predictions_csv)
        .writes("--plot", args.plot)
        .writes("--plot-calibration", args.plot_calibration)
        .writes("--out-mistakes", args.out_mistakes)
        .writes("--timm-csv", args.timm_csv)
    )


def run(args: argparse.Namespace) -> int:
    if bool(args.mistakes) != bool(args.out_mistakes):
        raise InvalidArgument("--mistakes N and --out-mistakes FILE go together")
    plan = speed_plan(args)  # the options against each other and the weights, before any work
    served = is_served(args.weights)
    if args.mistakes and (served or plan.precision == "int8" and not plan.calibrate):
        what = "an exported model" if served else "a quantized OpenVINO model"
        raise InvalidArgument(
            f"--mistakes: {args.weights} is {what}, which has no gradients for Grad-CAM; "
            "give the Keras weights it came from"
        )
    from inception_v2.data.sources import open_data

    data = open_data(args.data, args.ground_truth, args.dataset)
    from inception_v2.data.labels import read_real_labels

    real_labels = read_real_labels(args.real_labels) if data.imagenet or args.real_labels else None
    calibration = prepare_speed_plan(args, plan)

    from inception_v2.evaluation.evaluate import evaluate_weights, plot_per_class

    result = evaluate_weights(
        args.weights,
        data,
        batch_size=args.batch_size,
        limit=args.limit,
        labels_offset=args.labels_offset,
        strict=args.strict,
        predictions_csv=args.predictions_csv,
        show_progress=not args.quiet,
        overwrite=args.overwrite,
        precision=plan.precision,
        engine=plan.engine,
        calibration=calibration,
        real_labels=real_labels,
        mistakes=args.mistakes or 0,
    )
    if args.real_labels and result.real_top1 is None:
        say(args, f"ReaL: {data.description} holds no ILSVRC2012 validation images; ReaL top-1 not reported")
    if result.skipped:
        say(
            args,
            f"skipped {len(result.skipped)} unreadable image(s):",
            *[f"  {s}" for s in result.skipped[:20]],
        )
    write_report(args, result.to_json())
    if args.predictions_csv:
        say(args, f"predictions: {args.predictions_csv}")
    if args.timm_csv:
        from inception_v2.evaluation.timm_schema import timm_row, write_timm_csv

        name = args.model_name or (
            "inception_v2.tf_in1k" if args.weights == "imagenet" else os.path.basename(str(args.weights))
        )
        write_timm_csv([timm_row(result, name)], args.timm_csv, overwrite=args.overwrite)
        say(args, f"timm row: {args.timm_csv}")
    if args.plot:
        plot_per_class(result, args.plot, overwrite=args.overwrite)
        say(args, f"plot: {args.plot}")
    if args.out_mistakes:
        from inception_v2.explain.sheets import mistakes_sheet

        if result.mistakes:
            mistakes_sheet(
                args.weights,
                result.mistakes,
                result.class_names or [],
                args.out_mistakes,
                overwrite=args.overwrite,
            )
            say(args, f"mistakes: {args.out_mistakes}")
        else:
            say(args, "mistakes: none, no sheet written")
    if args.plot_calibration:
        from inception_v2.evaluation.reliability import plot_reliability

        title = f"{os.path.basename(str(args.weights))} on {result.data}"  # wrapped by the plot
        plot_reliability(result.reliability, args.plot_calibration, title, overwrite=args.overwrite)
        say(args, f"reliability diagram: {args.plot_calibration}")
    # Printed last: a reader of stdout that goes away (`| head`) stops the command where it
    # prints, and every file asked for is written by then.
    print(result.to_json() if args.json else result.table())
    return 0
