"""``inception-v2 bench``: the race against tf_slim's graph on this machine."""

from __future__ import annotations

import argparse

from inception_v2.claims import Claims
from inception_v2.cli.options import add_command, positive_float, positive_int, write_report
from inception_v2.errors import InvalidArgument
from inception_v2.inference.hardware import ENGINES  # standard library only


def add(subparsers) -> None:
    p = add_command(
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
        "--int8-model",
        "--weights",  # its earlier name, kept working; --weights means 'imagenet by default' elsewhere
        dest="int8_model",
        default=None,
        metavar="DIR",
        help="a saved int8 model (inception-v2 quantize) to race too, run as eval and predict run it; "
        "the other contenders use random weights (speed does not depend on their values)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="every stage once, small (~2 min on 2 cores): a smoke run, not numbers to quote",
    )
    p.add_argument(
        "--exports",
        action="store_true",
        help="also race the model exported in every format (SavedModel fed JPEG bytes; ONNX, LiteRT, "
        "OpenVINO IR fed uint8 pixels), each on its own runtime, preprocessing inside (TensorFlow backend)",
    )
    p.add_argument(
        "--torch-compile",
        action="store_true",
        help="also time torch.compile on the PyTorch backend (~2 min of compiling per batch size and model)",
    )
    p.set_defaults(run=run, claims=claims)


def claims(args: argparse.Namespace) -> Claims:
    """What this command reads and writes (``claims``: checked before any work)."""
    return (
        Claims(args.command, args.overwrite)
        .reads("--int8-model", args.int8_model)
        .writes("--report", args.report)
    )


def run(args: argparse.Namespace) -> int:
    import json

    from inception_v2.bench.race import (
        BACKENDS,
        BATCHES,
        QUICK,
        check_backends,
        engines_to_time,
        format_report,
    )
    from inception_v2.bench.race import run as run_bench

    backends = (
        tuple(args.backends.split(",")) if args.backends else QUICK["backends"] if args.quick else BACKENDS
    )
    check_backends(backends)
    engines = engines_to_time(args.engine)  # a missing extra is bad input, before anything is measured
    if args.int8_model:
        from inception_v2.inference.quantized import is_quantized_model

        if not is_quantized_model(args.int8_model):
            raise InvalidArgument(
                f"--int8-model {args.int8_model}: not a quantized model (inception-v2 quantize writes one); "
                "bench times random weights otherwise"
            )
        if "openvino" not in engines:
            raise InvalidArgument(
                f"--int8-model {args.int8_model}: a quantized model runs on OpenVINO, not --engine keras"
            )
    batches = QUICK["batches"] if args.quick else BATCHES
    if args.batches:
        try:
            batches = tuple(positive_int(b) for b in args.batches.split(","))
        except argparse.ArgumentTypeError as e:
            raise InvalidArgument(f"--batches {args.batches}: {e}") from None
    report = run_bench(
        batches=batches,
        rounds=args.rounds,
        seconds=args.seconds,
        backends=backends,
        quick=args.quick,
        torch_compile=args.torch_compile,
        engine=args.engine,
        saved_int8=args.int8_model,
        exports=args.exports,
    )
    text = json.dumps(report, indent=2)
    write_report(args, text)  # before stdout, whose reader may go away (`| head`)
    print(text if args.json else format_report(report))
    return 0
