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
#: eval and predict also run what quantize and export wrote, as they were saved.
RUNNABLE_HELP = (
    f"{WEIGHTS_HELP}; or a folder that quantize wrote (int8, OpenVINO) or a SavedModel that export "
    "wrote (fed the encoded files, its own preprocessing)"
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


@dataclasses.dataclass(frozen=True)
class SpeedPlan:
    """What ``eval`` or ``predict`` computes in and on, settled from the options.

    Attributes:
        precision: float32, tf32, bfloat16 or int8.
        engine: keras or openvino.
        calibrate: int8 to be quantized now, on the ``--calibration`` images (not a saved int8
            model, which runs as it was calibrated).
        note: what ``--fast`` decided on this CPU, when it is not the obvious (or "").
    """

    precision: str
    engine: str
    calibrate: bool = False
    note: str = ""


def speed_plan(args: argparse.Namespace) -> SpeedPlan:
    """The precision and engine that ``--precision``, ``--engine``, ``--fast``,
    ``--calibration`` and the weights (a saved int8 model) ask for, checked against each other;
    ``--fast`` reads this CPU's flags. Nothing is loaded or printed.

    Raises:
        InvalidArgument: options that do not fit each other or the weights.
    """
    from inception_v2.inference.quantized import is_quantized_model  # standard library and NumPy only
    from inception_v2.inference.served import is_served, runtime_of
    from inception_v2.precision import DEFAULT_PRECISION, check_engine

    precision, engine, note = args.precision, args.engine, ""
    if is_served(args.weights):  # an export runs as it was written, on its own runtime
        asked = [
            option
            for option, given in (
                ("--fast", args.fast),
                (f"--precision {precision}", precision),
                (f"--engine {engine}", engine),
                ("--calibration", args.calibration),
            )
            if given
        ]
        if asked:
            raise InvalidArgument(
                f"{args.weights}: a served model runs as it was exported (float32 on "
                f"{runtime_of(args.weights)}); leave out {asked[0]}, or give the weights it was exported from"
            )
        return SpeedPlan("float32", runtime_of(args.weights))
    if args.fast:
        from inception_v2.inference.hardware import fast_plan

        if precision is not None:
            raise InvalidArgument(f"--fast chooses the precision itself; leave out --precision {precision}")
        precision, engine, note = fast_plan(engine)
    if is_quantized_model(args.weights):  # saved int8: it runs as it was calibrated
        if args.calibration:
            raise InvalidArgument(f"--calibration: {args.weights} is already quantized; it runs as saved")
        if engine == "keras" or precision not in (None, "int8") or args.fast:
            asked = "--fast" if args.fast else f"--precision {precision}" if precision else "--engine keras"
            raise InvalidArgument(
                f"{args.weights}: a quantized model runs in int8 on OpenVINO only, not {asked}; "
                "give its source weights for another precision"
            )
        return SpeedPlan("int8", "openvino")
    precision = precision or DEFAULT_PRECISION
    if args.calibration and precision != "int8":
        raise InvalidArgument("--calibration is for --precision int8")
    engine = engine or ("openvino" if precision == "int8" else "keras")
    check_engine(precision, engine)
    return SpeedPlan(precision, engine, calibrate=precision == "int8", note=note)


def prepare_speed_plan(args: argparse.Namespace, plan: SpeedPlan):
    """Say ``plan``'s note, check that its engine is installed (a missing extra is bad input,
    before any model is built) and, for int8 calibrated now, load the calibration images.

    Returns:
        The calibration set (``data.calibration.CalibrationSet``), or None.

    Raises:
        MissingExtra: OpenVINO or NNCF not installed.
        MissingFile, DataError: calibration images that cannot be used.
    """
    if plan.note:
        say(args, plan.note)
    if plan.engine == "openvino":
        from inception_v2.inference.openvino import import_openvino

        import_openvino()
    if not plan.calibrate:
        return None
    from inception_v2.data.calibration import calibration_images
    from inception_v2.inference.openvino import import_nncf

    import_nncf()
    calibration = calibration_images(args.calibration)
    say(args, f"int8: calibrating on {calibration.describe()}")
    return calibration


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
