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

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) unless asked for; set before
# any command module can import TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from inception_v2 import interrupts  # noqa: E402 (standard library only, as the commands' modules)
from inception_v2.cli import (  # noqa: E402
    bench,
    bn_study,
    convert,
    evaluate,
    example_data,
    explain,
    export,
    finetune,
    make_checkpoint,
    predict,
    quantize,
)
from inception_v2.cli.options import (  # noqa: E402
    EXIT_BAD_INPUT,
    EXIT_CLOSED_PIPE,
    EXIT_INTERRUPTED,
    Parser,
)
from inception_v2.errors import Failure, InputError  # noqa: E402

__all__ = ["build_parser", "main"]

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

#: Third-party warnings that say nothing to a user of the command line (--verbose shows them).
KNOWN_WARNINGS = (
    r"Your input ran out of data",
    r".*`shuffle=True` was passed.*",
    r"Tight layout not applied",
    r".*np\.object.*",
    r".*is deprecated.*",
    r"The structure of `inputs` doesn't match the expected structure",  # Keras 3.15, a named input
)


def build_parser() -> argparse.ArgumentParser:
    from inception_v2 import __version__

    parser = Parser(
        prog="inception-v2",
        description="TF-slim's Inception V2 (BN-Inception) in Keras 3, computing what slim's graph computes.",
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (
        convert,
        evaluate,
        predict,
        finetune,
        bn_study,
        export,
        bench,
        quantize,
        explain,
        example_data,
        make_checkpoint,
    ):
        command.add(subparsers)
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
    standalone = argv is None if standalone is None else standalone
    quiet = standalone and not args.verbose
    from inception_v2.files import written_since  # standard library only

    outputs_before = len(written_since(0))
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
        written = written_since(outputs_before)
        if args.command in RESUMABLE:
            then = "rerun the same command to resume"
        elif args.command == "predict" and getattr(args, "runner", "local") == "local":
            then = "the images shown were classified"  # streamed to stdout as they come
        elif written:
            then = f"wrote {', '.join(map(str, written))}; nothing else"
        else:
            then = "no output was written"
        new_line = "\n" if sys.stderr.isatty() else ""  # off the progress bar's line
        print(f"{new_line}inception-v2 {args.command}: interrupted; {then}", file=sys.stderr, flush=True)
        return _stopped(EXIT_INTERRUPTED, standalone)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, and keep Python's exit-time
        # flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _stopped(EXIT_CLOSED_PIPE, standalone)


def _stopped(status: int, standalone: bool) -> int:
    """The exit of a command stopped midway. Its own process ends here, without the
    interpreter's teardown: the input pipeline's and the engines' native threads may still be
    running, and their destructors can abort the process after the one line was printed
    ("munmap_chunk(): invalid pointer", exit -6). Every file was already closed or renamed by
    then, and every lock released, by the ``with`` blocks the interrupt unwound."""
    if not standalone:
        return status
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


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
        with warnings.catch_warnings():
            if quiet:  # libraries' own warnings too: --quiet prints results and errors only
                warnings.simplefilter("ignore")
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


def _read_presets_if_named(args: argparse.Namespace) -> None:
    """A KerasHub preset folder (or a weight file in one) given as weights is read through
    ``inception_v2.hub.models``, which registers its reader as it loads: load it then, and only then
    (it imports KerasHub)."""
    from pathlib import Path

    for value in (getattr(args, "weights", None), getattr(args, "src", None)):
        if value and any((folder / "config.json").is_file() for folder in (Path(value), Path(value).parent)):
            from inception_v2.weights.loading import preset_folder

            if preset_folder(value) is not None:
                from inception_v2.hub.models import read_preset_variables  # noqa: F401 (registers the reader)


def _run(args: argparse.Namespace) -> int:
    """Claim the command's paths (``claims``), then run it. Bad input (an ``InputError``, or a
    file-system error on a path the user named) is one line and exit 2; any other exception is
    a bug and keeps its traceback."""
    try:
        args.claims(args).check()  # every path the command reads and writes, before any work
        _read_presets_if_named(args)
        return args.run(args)
    except Failure as e:  # the network away (exit 3), a verification failed (exit 1)
        print(f"inception-v2 {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except (InputError, OSError) as e:
        if not isinstance(e, InputError) and not _users_file_error(e, args):
            raise
        message = str(e)
        if isinstance(e, FileExistsError) and hasattr(args, "overwrite") and "--overwrite" not in message:
            message += "; add --overwrite to replace it"
        print(f"inception-v2 {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
