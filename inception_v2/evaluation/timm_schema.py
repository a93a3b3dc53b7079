"""A result in timm's ``results/`` schema, the one evaluators read across models and test sets.

timm's ``results-imagenet.csv`` (and ``-real``, ``-imagenetv2-matched-frequency``, ``-sketch``)
have the columns ``model, top1, top1_err, top5, top5_err, param_count, img_size, crop_pct,
interpolation``; the shifted sets' files (``-imagenet-a``, ``-imagenet-r``, ...) add
``top1_diff, top5_diff, rank_diff`` against the model's ImageNet row. Accuracies are percents to
three decimals, ``param_count`` millions to two (with a thousands separator), ``crop_pct`` to
three. This model is evaluated as slim's eval does: 224 pixels, crop 0.875, bilinear resize.
"""

from __future__ import annotations

import csv
import io
import os

from inception_v2.data.preprocessing import CENTRAL_FRACTION, DEFAULT_SIZE
from inception_v2.evaluation.evaluate import EvalResult
from inception_v2.files import atomic_path

COLUMNS = (
    "model",
    "top1",
    "top1_err",
    "top5",
    "top5_err",
    "param_count",
    "img_size",
    "crop_pct",
    "interpolation",
)
SHIFTED_COLUMNS = (*COLUMNS, "top1_diff", "top5_diff", "rank_diff")


def timm_row(result: EvalResult, model: str, imagenet: EvalResult | None = None) -> dict[str, str]:
    """``result`` as one row of timm's results CSV; with ``imagenet`` (the same model's row on
    ImageNet), the shifted sets' differences too (``rank_diff`` is 0: one model, one rank)."""
    top1, top5 = 100 * result.top1, 100 * (result.top5 if result.top5 is not None else 1.0)
    row = {
        "model": model,
        "top1": f"{top1:.3f}",
        "top1_err": f"{100 - top1:.3f}",
        "top5": f"{top5:.3f}",
        "top5_err": f"{100 - top5:.3f}",
        "param_count": f"{result.param_count / 1e6:,.2f}" if result.param_count else "",
        "img_size": str(DEFAULT_SIZE),
        "crop_pct": f"{CENTRAL_FRACTION:.3f}",
        "interpolation": "bilinear",
    }
    if imagenet is not None:
        row["top1_diff"] = f"{top1 - 100 * imagenet.top1:.3f}"
        row["top5_diff"] = f"{top5 - 100 * (imagenet.top5 if imagenet.top5 is not None else 1.0):.3f}"
        row["rank_diff"] = "0"
    return row


def write_timm_csv(rows: list[dict[str, str]], path: str | os.PathLike, overwrite: bool = False) -> None:
    """Write ``rows`` (``timm_row``'s) with timm's header, atomically."""
    columns = SHIFTED_COLUMNS if rows and "rank_diff" in rows[0] else COLUMNS
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text.getvalue())
