"""What the commands share: argument types, the parser's manners, the precision and engine
options, notes on stderr, ``--report``, and the exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from inception_v2.errors import DownloadError, InvalidArgument
from inception_v2.files import atomic_path
from inception_v2.inference.hardware import ENGINES  # standard library only: --help stays fast

EXIT_VERIFY_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_WEIGHTS = DownloadError.exit_code  # the official weights could not be downloaded (offline)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE, as a shell reports a command whose reader went away

WEIGHTS_HELP = "'imagenet', a slim checkpoint, or a converted or fine-tuned .weights.h5/.keras"


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


class Formatter(argparse.RawDescriptionHelpFormatter):
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


class Parser(argparse.ArgumentParser):
    """A usage mistake is one line on stderr, exit 2 (argparse would print the usage first)."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def common_options() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bars or notes on stderr")
    common.add_argument(
        "--verbose", action="store_true", help="show TensorFlow's and other libraries' own logs and warnings"
    )
    return common


def add_command(subparsers, name: str, help: str, description: str) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=help, description=description, parents=[common_options()], formatter_class=Formatter
    )


def say(args: argparse.Namespace, *lines: str) -> None:
    """A note for the person at the terminal (stderr), unless --quiet."""
    if not args.quiet:
        print(*lines, sep="\n", file=sys.stderr, flush=True)


# --------------------------------------------------------------- eval, predict: precision and engine


def add_precision_options(parser) -> None:
    from inception_v2.precision import DEFAULT_PRECISION, PRECISIONS

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help=f"default: {DEFAULT_PRECISION} (int8 for a model saved by quantize). float32: true float32, "
        "what reproduces slim (TF32 off on GPUs); tf32: allow TF32 on "
        "GPUs (faster, ~1e-2 logit error); bfloat16: the fast path; int8: 8-bit integers on OpenVINO, "
        "quantized by NNCF on --calibration images",
    )
    add_calibration_option(parser, "int8: ")
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


def add_calibration_option(parser, prefix: str = "") -> None:
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="DIR",
        help=f"{prefix}a folder of images to calibrate on (sub-folders too); default: the 100 bundled "
        "ImageNet validation images",
    )


def resolve_speed_options(args: argparse.Namespace) -> None:
    """Settle ``args.precision`` and ``args.engine`` (``--fast`` looks at this CPU)."""
    if args.fast:
        from inception_v2.inference.hardware import fast_plan

        if args.precision is not None:
            raise InvalidArgument(
                f"--fast chooses the precision itself; leave out --precision {args.precision}"
            )

        args.precision, args.engine, note = fast_plan(args.engine)
        if note:
            say(args, note)
    from inception_v2.inference.quantized import is_quantized_model  # standard library and NumPy only
    from inception_v2.precision import DEFAULT_PRECISION

    if is_quantized_model(args.weights):  # saved int8: it runs as it was calibrated
        if args.calibration:
            raise InvalidArgument(f"--calibration: {args.weights} is already quantized; it runs as saved")
        if args.engine == "keras" or args.precision not in (None, "int8") or args.fast:
            asked = (
                "--fast"
                if args.fast
                else f"--precision {args.precision}"
                if args.precision
                else "--engine keras"
            )
            raise InvalidArgument(
                f"{args.weights}: a quantized model runs in int8 on OpenVINO only, not {asked}; "
                "give its source weights for another precision"
            )
        args.precision, args.engine, args.calibration_set = "int8", "openvino", None
        return
    args.precision = args.precision or DEFAULT_PRECISION
    if args.calibration and args.precision != "int8":
        raise InvalidArgument("--calibration is for --precision int8")
    args.engine = args.engine or ("openvino" if args.precision == "int8" else "keras")
    args.calibration_set = None
    if args.engine == "openvino":
        from inception_v2.inference.openvino import import_openvino

        import_openvino()  # a missing extra is bad input, before any model is built
    if args.precision == "int8":
        from inception_v2.data.calibration import calibration_images
        from inception_v2.inference.openvino import import_nncf
        from inception_v2.precision import check_engine

        check_engine(args.precision, args.engine)
        import_nncf()
        args.calibration_set = calibration_images(args.calibration)
        say(args, f"int8: calibrating on {args.calibration_set.describe()}")


def write_report(args: argparse.Namespace, text: str) -> None:
    """``--report FILE``: the JSON report, written atomically."""
    if args.report:
        with atomic_path(args.report, overwrite=args.overwrite) as tmp:
            tmp.write_text(text)
        say(args, f"report: {args.report}")


# --------------------------------------------------------------------- finetune, bn-study: settings


def settings_from_args(settings_class, args: argparse.Namespace, **spelled_otherwise):
    """A settings dataclass from a parsed command line: every option named like one of its
    fields is copied by name, so a new option cannot be silently dropped; the fields whose
    options are spelled otherwise are given as keywords."""
    fields = (f.name for f in dataclasses.fields(settings_class))
    same_name = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    return settings_class(**{**same_name, **spelled_otherwise})
