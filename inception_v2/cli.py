"""The ``inception-v2`` command line.

One vocabulary across commands: ``--weights`` (default ``imagenet``), ``--out``/``DST``,
``--report FILE`` (JSON report), ``--json`` (JSON on stdout instead of the table),
``--quiet`` (no progress), ``--verbose`` (TensorFlow's own logs too), ``--overwrite``.
Results go to stdout, progress and messages to stderr.

Exit codes: 0 done; 1 ``convert --verify`` found a difference beyond the tolerance; 2 bad
input (one line on stderr naming the file and the problem; nothing written); 3 slim's
official weights could not be downloaded (offline).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from inception_v2 import interrupts  # standard library only, as the two below
from inception_v2.architecture import NUM_CLASSES  # standard library only
from inception_v2.errors import InputError, InvalidArgument
from inception_v2.files import atomic_path, check_writable, refuse_existing
from inception_v2.hardware import ENGINES  # standard library only: --help stays fast

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_WEIGHTS = 3  # the official weights could not be downloaded (offline)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away
#: Commands whose work a rerun continues (their run folder keeps its state).
RESUMABLE = ("finetune", "bn-study")

COMMANDS = """commands:
  convert        slim checkpoint -> Keras .weights.h5/.keras (--verify: against tf_slim's graph)
  eval           top-1/top-5 on ImageNet or class folders, slim's protocol
  predict        top classes of image files (or folders of them)
  finetune       train a new head (or more) on class folders; resumable
  bn-study       Batch Normalization's paper in miniature: 6 variants trained from scratch
  export         a classifier as SavedModel, LiteRT or ONNX
  bench          speed against tf_slim's graph on this machine
  quantize       an int8 model for OpenVINO (NNCF), which eval and predict take as --weights
  explain        Grad-CAM overlays of each image's top classes
  example-data   write the bundled ants/bees photos, to try finetune
  make-test-checkpoint  a random slim checkpoint built by tf_slim (tests, offline demos)

exit codes: 0 done, 1 verification failed, 2 bad input, 3 official weights not downloadable"""

WEIGHTS_HELP = "'imagenet', a slim checkpoint, or a converted or fine-tuned .weights.h5/.keras"
#: Third-party warnings that say nothing to a user of the command line (--verbose shows them).
KNOWN_WARNINGS = (
    r"Your input ran out of data",
    r".*`shuffle=True` was passed.*",
    r"Tight layout not applied",
    r".*np\.object.*",
    r".*is deprecated.*",
)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Defaults shown in --help where there is one to show; descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default is None
            or action.default is False
            or action.default == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)".strip()


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line on stderr, exit 2 (argparse would print the usage first)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common_options() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars or notes on stderr")
    common.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's and other libraries' own logs and warnings"
    )
    return common


def _add(subparsers, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=help, description=description, parents=[_common_options()], formatter_class=_Formatter
    )


def _say(args: argparse.Namespace, *lines: str) -> None:
    """A note for the person at the terminal (stderr), unless --quiet."""
    if not args.quiet:
        print(*lines, sep="\n", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- convert


def _add_convert(subparsers) -> None:
    p = _add(
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
    p.set_defaults(run=_run_convert)


def _run_convert(args: argparse.Namespace) -> int:
    import json

    from inception_v2.convert import VerificationError, convert_checkpoint

    write = convert_checkpoint
    if args.preset:
        from inception_v2.hub import write_preset as write  # MissingExtra without keras-hub

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


# ----------------------------------------------------------------------------- eval


def _add_precision_options(parser) -> None:
    from inception_v2.precision import DEFAULT_PRECISION, PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="float32: true float32, what reproduces slim (TF32 off on GPUs); tf32: allow TF32 on "
        "GPUs (faster, ~1e-2 logit error); bfloat16: the fast path; int8: 8-bit integers on OpenVINO, "
        "quantized by NNCF on --calibration images",
    )
    _add_calibration_option(parser, "int8: ")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="the fastest path this CPU gains from: bfloat16 (batch norm folded) where it has bfloat16 "
        "units (AMX, AVX512-BF16), else float32 on the fastest engine installed; not bit for bit float32",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="keras: the model on its Keras backend (default); openvino: the same model converted for "
        'OpenVINO\'s CPU runtime, float32 pinned (pip install "inception_v2[openvino]")',
    )


def _add_calibration_option(parser, prefix: str = "") -> None:
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="DIR",
        help=f"{prefix}a folder of images to calibrate on (sub-folders too); default: the 100 bundled "
        "ImageNet validation images",
    )


def _resolve_speed_options(args: argparse.Namespace) -> None:
    """Settle ``args.precision`` and ``args.engine`` (``--fast`` looks at this CPU)."""
    if args.fast:
        from inception_v2.hardware import fast_plan

        args.precision, args.engine, note = fast_plan(args.engine)
        if note:
            _say(args, note)
    from inception_v2.quantized import is_quantized_model  # standard library and NumPy only

    if is_quantized_model(args.weights):  # saved int8: it runs as it was calibrated
        if args.calibration:
            raise InvalidArgument(f"--calibration: {args.weights} is already quantized; it runs as saved")
        if args.engine == "keras" or args.precision not in ("float32", "int8") or args.fast:
            raise InvalidArgument(f"{args.weights}: a quantized model runs in int8 on OpenVINO only")
        args.precision, args.engine, args.calibration_set = "int8", "openvino", None
        return
    if args.calibration and args.precision != "int8":
        raise InvalidArgument("--calibration is for --precision int8")
    args.engine = args.engine or ("openvino" if args.precision == "int8" else "keras")
    args.calibration_set = None
    if args.engine == "openvino":
        from inception_v2.openvino_engine import import_openvino

        import_openvino()  # a missing extra is bad input, before any model is built
    if args.precision == "int8":
        from inception_v2.calibration import calibration_images
        from inception_v2.openvino_engine import import_nncf
        from inception_v2.precision import check_engine

        check_engine(args.precision, args.engine)
        import_nncf()
        args.calibration_set = calibration_images(args.calibration)
        _say(args, f"int8: calibrating on {args.calibration_set.describe()}")


def _add_eval(subparsers) -> None:
    p = _add(
        subparsers,
        "eval",
        "evaluate on ImageNet (or class folders) as slim's eval_image_classifier does",
        "Top-1 / top-5 with slim's eval preprocessing and metrics. Data: slim's "
        "validation-*-of-00128 TFRecords, a folder of ILSVRC2012_val_*.JPEG, or class folders. "
        "Without --data, the 100 ImageNet validation images bundled with the package.",
    )
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--data", default=None, help="TFRecord dir/glob, raw validation dir, or class folders")
    p.add_argument(
        "--ground-truth", default=None, help="50,000-line ground truth for a raw folder (default: bundled)"
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
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.add_argument("--overwrite", action="store_true", help="replace existing report/CSV/plot files")
    _add_precision_options(p)
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    if bool(args.mistakes) != bool(args.out_mistakes):
        raise InvalidArgument("--mistakes N and --out-mistakes FILE go together")
    for output in (args.predictions_csv, args.report, args.plot, args.plot_calibration, args.out_mistakes):
        if output:
            check_writable(output, args.overwrite)  # before anything heavy is loaded
    from inception_v2.data import open_data

    data = open_data(args.data, args.ground_truth)
    from inception_v2.labels import read_real_labels

    real_labels = read_real_labels(args.real_labels) if data.imagenet or args.real_labels else None
    _resolve_speed_options(args)

    from inception_v2.evaluate import evaluate_weights, plot_per_class

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
        precision=args.precision,
        engine=args.engine,
        calibration=args.calibration_set,
        real_labels=real_labels,
        mistakes=args.mistakes or 0,
    )
    print(result.to_json() if args.json else result.table())
    if args.real_labels and result.real_top1 is None:
        _say(args, f"ReaL: {data.description} holds no ILSVRC2012 validation images; ReaL top-1 not reported")
    if result.skipped:
        _say(
            args,
            f"skipped {len(result.skipped)} unreadable image(s):",
            *[f"  {s}" for s in result.skipped[:20]],
        )
    _write_report(args, result.to_json())
    if args.predictions_csv:
        _say(args, f"predictions: {args.predictions_csv}")
    if args.plot:
        plot_per_class(result, args.plot, overwrite=args.overwrite)
        _say(args, f"plot: {args.plot}")
    if args.out_mistakes:
        from inception_v2.explain import mistakes_sheet

        if result.mistakes:
            mistakes_sheet(
                args.weights,
                result.mistakes,
                result.class_names or [],
                args.out_mistakes,
                overwrite=args.overwrite,
            )
            _say(args, f"mistakes: {args.out_mistakes}")
        else:
            _say(args, "mistakes: none, no sheet written")
    if args.plot_calibration:
        from inception_v2.reliability import plot_reliability

        title = f"{os.path.basename(str(args.weights))} on {result.data}"  # wrapped by the plot
        plot_reliability(result.reliability, args.plot_calibration, title, overwrite=args.overwrite)
        _say(args, f"reliability diagram: {args.plot_calibration}")
    return 0


# ----------------------------------------------------------------------------- predict


def _add_predict(subparsers) -> None:
    p = _add(
        subparsers,
        "predict",
        "top classes of image files (or folders of them)",
        "Classify images with slim's eval preprocessing: ImageNet names for slim's weights, the "
        "class names of a fine-tuned model (its classes.json, written by finetune beside the model). "
        "A file that cannot be decoded is skipped with a note; the others are still classified. "
        "Streamed: results are printed a batch at a time, memory stays flat.",
    )
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG, GIF, BMP, WebP) or folders of them")
    p.add_argument("--recursive", action="store_true", help="look in the folders' sub-folders too")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--top", type=positive_int, default=5, help="classes shown per image")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per batch")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_precision_options(p)
    p.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    import json

    from inception_v2.classify import predict_files

    _resolve_speed_options(args)
    predictions = predict_files(
        args.weights,
        args.images,
        recursive=args.recursive,
        top=args.top,
        batch_size=args.batch_size,
        precision=args.precision,
        engine=args.engine,
        # On a terminal only: off one, stdout's results are the progress.
        show_progress=not args.quiet and sys.stderr.isatty(),
        calibration=args.calibration_set,
    )
    first = True
    for prediction in predictions:
        if prediction.error:
            _say(args, f"skipped: {prediction.image}: {prediction.error}")
            continue
        if args.json:  # one JSON array, written as it grows
            print(("[\n" if first else ",\n") + _indented(json.dumps(prediction.to_dict(), indent=2)), end="")
        else:
            _print_prediction(prediction)
        first = False
        sys.stdout.flush()
    if args.json:
        print("[]" if first else "\n]")
    return 0


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _print_prediction(prediction) -> None:
    print(prediction.image)
    for rank, entry in enumerate(prediction.top, 1):
        name, synset = entry["name"], entry["synset"]
        label = name if synset == name else f"{synset}  {name}"
        print(f"  {rank}. {entry['probability']:7.2%}  {label}")


# ----------------------------------------------------------------------------- bench


def _add_bench(subparsers) -> None:
    p = _add(
        subparsers,
        "bench",
        "race the Keras port against tf_slim's graph (speed, pipeline, memory, converter)",
        "One run on this machine: images/s of slim's TF1 graph and of the Keras port "
        "(call, predict, folded BN, bf16 fast path, XLA) at several batch sizes on each Keras "
        "backend installed, input pipeline vs model, eval peak memory, converter time.",
    )
    p.add_argument("--report", default=None, metavar="FILE", help="write the JSON report here")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.add_argument("--overwrite", action="store_true", help="replace the report if it exists")
    p.add_argument(
        "--batches", default=None, help="comma-separated batch sizes (default: 1,8,32; --quick: 1,8)"
    )
    p.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds per measurement")
    p.add_argument("--seconds", type=positive_float, default=3.0, help="minimum seconds per measurement")
    p.add_argument(
        "--backends",
        default=None,
        help="comma-separated Keras backends to measure (default: tensorflow,jax,torch; --quick: tensorflow)",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="time only this engine (with slim's graph); default: every engine installed",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="every stage once, small (~2 min on 2 cores): a smoke run, not numbers to quote",
    )
    p.add_argument(
        "--torch-compile",
        action="store_true",
        help="also time torch.compile on the PyTorch backend (~2 min of compiling per batch size and model)",
    )
    p.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    import json

    from inception_v2.bench import (
        BACKENDS,
        BATCHES,
        QUICK,
        check_backends,
        engines_to_time,
        format_report,
        run,
    )

    if args.report:
        check_writable(args.report, args.overwrite)
    backends = (
        tuple(args.backends.split(",")) if args.backends else QUICK["backends"] if args.quick else BACKENDS
    )
    check_backends(backends)
    engines_to_time(args.engine)  # a missing extra is bad input, before anything is measured
    batches = QUICK["batches"] if args.quick else BATCHES
    if args.batches:
        try:
            batches = tuple(positive_int(b) for b in args.batches.split(","))
        except argparse.ArgumentTypeError as e:
            raise InvalidArgument(f"--batches {args.batches}: {e}") from None
    report = run(
        batches=batches,
        rounds=args.rounds,
        seconds=args.seconds,
        backends=backends,
        quick=args.quick,
        torch_compile=args.torch_compile,
        engine=args.engine,
    )
    text = json.dumps(report, indent=2)
    print(text if args.json else format_report(report))
    _write_report(args, text)
    return 0


def _write_report(args: argparse.Namespace, text: str) -> None:
    """``--report FILE``: the JSON report, written atomically."""
    if args.report:
        with atomic_path(args.report, overwrite=args.overwrite) as tmp:
            tmp.write_text(text)
        _say(args, f"report: {args.report}")


# ----------------------------------------------------------------------------- finetune


def _add_finetune(subparsers) -> None:
    p = _add(
        subparsers,
        "finetune",
        "fine-tune on a folder of class sub-folders (resumable)",
        "Train a new head (or more) on class folders: DATA/train + DATA/val, or DATA's class folders "
        "split by --validation-split. Re-running the same command resumes. Progress goes to stderr, "
        "the final summary (JSON) to stdout. Try it: inception-v2 example-data ants_bees.",
    )
    p.add_argument("--data", required=True, help="class folders, or a folder holding train/ and val/")
    p.add_argument("--out", required=True, help="output folder (models, curves, logs, backup)")
    p.add_argument("--weights", default="imagenet", help=WEIGHTS_HELP)
    p.add_argument("--epochs", type=positive_int, default=5, help="epochs in all (a resumed run counts on)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per step")
    p.add_argument(
        "--train", default="head", help="'head', 'all', or the end point (e.g. Mixed_5a) to train from"
    )
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="sgd: with momentum")
    p.add_argument("--learning-rate", type=positive_float, default=1e-3, help="use ~1e-5 with --train all")
    p.add_argument("--momentum", type=float, default=0.9, help="for --optimizer sgd")
    p.add_argument(
        "--train-batch-norm",
        action="store_true",
        help="update batch-norm statistics in the trained part (default: frozen)",
    )
    p.add_argument("--batch-norm-momentum", type=float, default=0.99, help="with --train-batch-norm")
    p.add_argument("--no-color-distortion", action="store_true", help="skip slim's colour augmentation")
    p.add_argument(
        "--validation-split", type=float, default=0.2, help="held out when DATA has no train/ and val/"
    )
    p.add_argument(
        "--mixed-precision",
        action="store_true",
        help="mixed_bfloat16 on CPU, mixed_float16 on GPU (batch norm, logits in float32)",
    )
    p.add_argument("--save-every", type=positive_int, default=20, help="back up every N steps and each epoch")
    p.add_argument("--max-steps-per-epoch", type=positive_int, default=None, help="cap on steps per epoch")
    p.add_argument(
        "--distribute",
        choices=("mirrored",),
        default=None,
        help="data-parallel training over this host's devices (tf.distribute.MirroredStrategy)",
    )
    p.add_argument("--seed", type=int, default=0, help="for the split, augmentation and new weights")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh: delete the files of the run in --out (only those), whatever its state",
    )
    p.add_argument(
        "--preset",
        default=None,
        metavar="DIR",
        help="also write the best model as a KerasHub preset folder (see convert --preset)",
    )
    p.set_defaults(run=_run_finetune)


def settings_from_args(settings_class, args: argparse.Namespace, **spelled_otherwise):
    """A settings dataclass from a parsed command line: every option named like one of its
    fields is copied by name, so a new option cannot be silently dropped; the fields whose
    options are spelled otherwise are given as keywords."""
    import dataclasses

    fields = (f.name for f in dataclasses.fields(settings_class))
    same_name = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    return settings_class(**{**same_name, **spelled_otherwise})


def finetune_settings(args: argparse.Namespace):
    """The ``RunSettings`` of a parsed ``finetune`` command line."""
    from inception_v2.precision import mixed_policy
    from inception_v2.train import RunSettings

    dtype = mixed_policy() if args.mixed_precision else None
    return settings_from_args(RunSettings, args, color_distortion=not args.no_color_distortion, dtype=dtype)


def _run_finetune(args: argparse.Namespace) -> int:
    import json

    from inception_v2.train import finetune

    if args.preset:
        from inception_v2.hub import check_preset_output, write_preset

        check_preset_output(args.preset)  # before any training; MissingExtra without keras-hub
    # Keras writes its progress bar to stdout: send it to stderr, one line per epoch off a terminal.
    verbose = 0 if args.quiet else (1 if sys.stderr.isatty() else 2)
    with contextlib.redirect_stdout(sys.stderr):
        result = finetune(finetune_settings(args), args.out, verbose=verbose, overwrite=args.overwrite)
    if args.preset:
        write_preset(os.path.join(args.out, "best.weights.h5"), args.preset)
        result["preset"] = args.preset
    print(json.dumps(result, indent=2))
    return 0


# ----------------------------------------------------------------------------- bn-study


def _add_bn_study(subparsers) -> None:
    from inception_v2.bn_study import StudySettings

    defaults = StudySettings()
    p = _add(
        subparsers,
        "bn-study",
        "Batch Normalization's training speed-up, reproduced in minutes (figure + table)",
        "Train the networks that Ioffe & Szegedy (2015) compare - Inception without batch norm, "
        "BN-Baseline, BN-x5, BN-x30, BN-x5-Sigmoid, and Inception-Sigmoid (the paper's negative "
        "result) - from the same initialisation on the same batches, and write the paper's figure "
        "(validation accuracy vs steps, OUT/curves.png) and table (steps to Inception's best accuracy, "
        "best accuracy: stdout, OUT/table.csv, OUT/table.json). Default data: scikit-learn's "
        "handwritten digits, upsampled (pip install 'inception-v2[study]'). About 15 minutes on 2 "
        "CPU cores with the defaults; re-running the same command resumes a killed study.",
    )
    p.add_argument("--data", default=None, help="class folders of your own (default: scikit-learn's digits)")
    p.add_argument("--out", default="bn_study", help="output folder (figure, table, curves, models)")
    for option, kind, help in (
        ("--steps", positive_int, "training steps per variant"),
        ("--batch-size", positive_int, "images per step"),
        ("--learning-rate", positive_float, "base rate (Inception, BN-Baseline); BN-x5/x30 use 5x/30x"),
        ("--depth-multiplier", positive_float, "slim's channel factor"),
        ("--image-size", positive_int, "pixels per side"),
        ("--eval-every", positive_int, "steps between evaluations"),
        ("--validation-split", float, "share of each class held out"),
        ("--batch-norm-momentum", float, "of the moving statistics"),
        ("--seed", int, "for the split, the batches and the weights"),
    ):
        default = getattr(defaults, option[2:].replace("-", "_"))
        p.add_argument(option, type=kind, default=default, help=help)
    p.add_argument(
        "--variants", default=",".join(defaults.variants), help="comma-separated, from the list above"
    )
    p.add_argument("--json", action="store_true", help="print the JSON result instead of the table")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh: delete the files of the study in --out (only those), whatever its state",
    )
    p.set_defaults(run=_run_bn_study)


def _run_bn_study(args: argparse.Namespace) -> int:
    import json

    from inception_v2.bn_study import StudySettings, run_study
    from inception_v2.progress import Progress

    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    settings = settings_from_args(StudySettings, args, variants=variants)  # run_study checks them
    progress = None
    if not args.quiet:
        progress = Progress(settings.steps * settings.batch_size * len(settings.variants))
    result = run_study(
        settings, args.out, overwrite=args.overwrite, progress=progress.update if progress else None
    )
    if progress:
        progress.close()
    text = result.pop("text")
    print(json.dumps(result, indent=2) if args.json else text)
    _say(
        args, f"figure: {os.path.join(args.out, 'curves.png')}; table: {os.path.join(args.out, 'table.csv')}"
    )
    return 0


# ----------------------------------------------------------------------------- export


def _add_export(subparsers) -> None:
    p = _add(
        subparsers,
        "export",
        "export a classifier (probabilities out) as SavedModel, LiteRT or ONNX",
        "Export a model for serving: images preprocessed as for the model in, class probabilities "
        "out. The format follows --out's extension (.tflite: LiteRT, .onnx: ONNX, anything else: a "
        "SavedModel folder) unless --format names it; a mismatch is refused.",
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
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from inception_v2.export import check_export

    fmt = check_export(args.out, args.format, args.overwrite)  # before the slow part

    from inception_v2.export import export
    from inception_v2.model import build_from_weights

    model, _, _ = build_from_weights(args.weights)
    print(export(model, args.out, fmt, overwrite=args.overwrite, source=str(args.weights)))
    return 0


# ----------------------------------------------------------------------------- explain


def _add_explain(subparsers) -> None:
    p = _add(
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
    p.set_defaults(run=_run_explain)


def _run_explain(args: argparse.Namespace) -> int:
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


def _add_quantize(subparsers) -> None:
    p = _add(
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
    _add_calibration_option(p)
    p.add_argument(
        "--calibration-size",
        type=positive_int,
        default=None,
        metavar="N",
        help="use N images (refused if the folder has fewer); default: all, at most 300",
    )
    p.add_argument("--overwrite", action="store_true", help="replace --out if quantize wrote it")
    p.set_defaults(run=_run_quantize)


def _run_quantize(args: argparse.Namespace) -> int:
    from inception_v2.files import check_output_folder
    from inception_v2.quantized import COMMAND, quantize_weights

    check_output_folder(args.out, args.overwrite, COMMAND)  # before anything heavy
    from inception_v2.calibration import calibration_images

    calibration = calibration_images(args.calibration, args.calibration_size)
    _say(args, f"int8: calibrating on {calibration.describe()}")
    record = quantize_weights(args.weights, args.out, calibration, overwrite=args.overwrite)
    print(
        f"{args.weights} -> {args.out} (int8, {record.classes} classes; calibrated on {record.calibration})"
    )
    return 0


# ----------------------------------------------------------------------------- small helpers


def _add_test_checkpoint(subparsers) -> None:
    p = _add(
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
    p.set_defaults(run=_run_test_checkpoint)


def _run_test_checkpoint(args: argparse.Namespace) -> int:
    from inception_v2.slim_reference import random_slim_variables, save_slim_variables

    for path in (args.dst, args.dst + ".index"):  # a V1 file, or a V2 prefix's index
        refuse_existing(path, hint="name a new checkpoint")
    variables = random_slim_variables(args.classes, args.depth_multiplier, args.min_depth, args.seed)
    print(save_slim_variables(variables, args.dst, args.format))
    return 0


def _add_example_data(subparsers) -> None:
    p = _add(
        subparsers,
        "example-data",
        "write the bundled ants/bees image set (class folders) to try finetune on",
        "Copy the 36 ants and bees photos shipped with the package to DST/train/<class>/ and "
        "DST/val/<class>/, the layout finetune reads. Your own data: any folder of the same shape.",
    )
    p.add_argument("dst", help="folder to create (must not exist)")
    p.set_defaults(run=_run_example_data)


def _run_example_data(args: argparse.Namespace) -> int:
    from inception_v2.example_data import write_example_data

    print(write_example_data(args.dst))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from inception_v2 import __version__

    parser = _Parser(
        prog="inception-v2",
        description="TF-slim's Inception V2 (BN-Inception) in Keras 3, computing what slim's graph computes.",
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_convert,
        _add_eval,
        _add_predict,
        _add_finetune,
        _add_bn_study,
        _add_export,
        _add_bench,
        _add_quantize,
        _add_explain,
        _add_example_data,
        _add_test_checkpoint,
    ):
        add(subparsers)
    return parser


@contextlib.contextmanager
def _quiet_libraries():
    """TensorFlow's C++ logs (written straight to file descriptor 2, some before they read
    TF_CPP_MIN_LOG_LEVEL) go to /dev/null; Python's ``sys.stderr`` keeps the terminal, so our
    messages, progress and tracebacks still show. Known third-party warnings are hidden."""
    sys.stderr.flush()
    terminal = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    python_stderr = sys.stderr
    sys.stderr = open(terminal, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
    try:
        with warnings.catch_warnings():
            for message in KNOWN_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        sys.stderr.flush()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)


def main(argv: Sequence[str] | None = None, standalone: bool | None = None) -> int:
    """Run one command; its exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        standalone: this is the process's own command line, so library logs are kept off its
            stderr unless --verbose (default: when ``argv`` is None; a caller in a test or a
            notebook keeps its stderr as it is).

    Returns:
        0 done, 1 verification failed, 2 bad input, 3 official weights not downloadable,
        130 interrupted (Ctrl-C), 141 stdout closed by its reader.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet = (argv is None if standalone is None else standalone) and not args.verbose
    try:
        with (
            interrupts.handled(),
            _quiet_libraries() if quiet else contextlib.nullcontext(),
            _library_messages(args.quiet),
        ):
            logging.getLogger("tensorflow").setLevel(logging.ERROR)  # TF1 deprecation notices
            status = _run(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler below
            return status
    except KeyboardInterrupt:
        then = {"predict": "the images shown were classified"}.get(args.command, "no output was written")
        if args.command in RESUMABLE:
            then = "rerun the same command to resume"
        new_line = "\n" if sys.stderr.isatty() else ""  # off the progress bar's line
        print(f"{new_line}inception-v2 {args.command}: interrupted; {then}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, and keep Python's exit-time
        # flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


@contextlib.contextmanager
def _library_messages(quiet: bool):
    """The library logs its notes (logger ``inception_v2``); the command shows them on stderr as
    plain lines: notes and warnings, or warnings only with --quiet."""
    logger = logging.getLogger("inception_v2")
    handler = logging.StreamHandler(sys.stderr)  # the stderr of now: _quiet_libraries may swap it
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


def _named_paths(args: argparse.Namespace) -> list[str]:
    """Every option value of the command line that could be a path, absolute."""
    values = []
    for value in vars(args).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                values.append(os.path.abspath(item))
    return values


def _users_file_error(error: BaseException, args: argparse.Namespace) -> bool:
    """The file system's word on a path the user named (or one inside a folder they named)."""
    if not isinstance(error, OSError) or not error.filename:
        return False
    failed = os.path.abspath(os.fsdecode(error.filename))
    return any(
        failed == named or failed.startswith(named.rstrip(os.sep) + os.sep) for named in _named_paths(args)
    )


def _run(args: argparse.Namespace) -> int:
    """Run the command. Bad input (an ``InputError``, or a file-system error on a path the user
    named) is one line and exit 2; any other exception is a bug and keeps its traceback."""
    from inception_v2.download import DownloadError

    try:
        return args.run(args)
    except DownloadError as e:
        print(f"inception-v2 {args.command}: error: {e}", file=sys.stderr)
        return EXIT_NO_WEIGHTS
    except (InputError, OSError) as e:
        if not isinstance(e, InputError) and not _users_file_error(e, args):
            raise
        message = str(e)
        if isinstance(e, FileExistsError) and hasattr(args, "overwrite") and "--overwrite" not in message:
            message += "; add --overwrite to replace it"
        print(f"inception-v2 {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
