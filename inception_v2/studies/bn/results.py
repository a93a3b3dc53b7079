"""The BN study's results: curves (read, written, plotted) and the paper's table."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from inception_v2.files import atomic_path, save_figure

BASELINE = "Inception"
NEAR_SHARE = 0.95  # the table's second target: 95 % of the baseline's best accuracy


def finite(value: float) -> float | None:
    """``value``, or None for NaN and infinity (what a diverged loss writes to curves.csv)."""
    return float(value) if math.isfinite(value) else None


def read_curves(path: Path) -> dict[str, list[dict]]:
    """``{variant: [{"step", "val_accuracy", "loss"}, ...]}`` from ``curves.csv``."""
    curves: dict[str, list[dict]] = {}
    if path.exists():
        with open(path) as f:
            for row in csv.DictReader(f):
                curves.setdefault(row["variant"], []).append(
                    {
                        "step": int(row["step"]),
                        "val_accuracy": float(row["val_accuracy"]),
                        "loss": float(row["loss"]) if row["loss"] else None,
                    }
                )
    return curves


def write_curves(path: Path, curves: dict[str, list[dict]]) -> None:
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, ["variant", "step", "val_accuracy", "loss"])
        writer.writeheader()
        for name, rows in curves.items():
            for row in rows:
                writer.writerow({"variant": name, **{k: "" if v is None else v for k, v in row.items()}})


def summarize(curves: dict[str, list[dict]], baseline: str = BASELINE) -> list[dict]:
    """The paper's table: each variant's best accuracy, and the steps it took to reach the
    baseline's best accuracy (first evaluation at or above it), with the speed-up over the
    baseline. Also the same for 95 % of that accuracy: a small validation set's noise decides
    which variant first matches a best-of-many maximum, but not which one nears it first."""
    target = max((r["val_accuracy"] for r in curves.get(baseline, [])), default=None)
    table = []
    for name, rows in curves.items():
        best = max(rows, key=lambda r: r["val_accuracy"])
        row = {"variant": name, "best_val_accuracy": best["val_accuracy"], "best_at_step": best["step"]}
        for key, share in (("", 1.0), ("_95pc", NEAR_SHARE)):
            goal = target * share if target is not None else None
            steps, base_steps = _steps_to(rows, goal), _steps_to(curves.get(baseline, []), goal)
            row[f"steps_to_baseline_best{key}"] = steps
            row[f"speed_up{key}"] = base_steps / steps if steps and base_steps else None
        table.append(row)
    return table


def _steps_to(rows: list[dict], target: float | None) -> int | None:
    if target is None:
        return None
    return next((r["step"] for r in rows if r["val_accuracy"] >= target), None)


def format_table(table: list[dict], target: float | None) -> str:
    """The table as text, one variant per line."""
    reach = [f"steps to {100 * target * s:.1f}%" if target is not None else "steps" for s in (1, NEAR_SHARE)]
    lines = [
        f"{'variant':<18} {reach[0]:>16} {'speed-up':>9} {reach[1]:>16} {'speed-up':>9} "
        f"{'best accuracy':>14} {'at step':>8}"
    ]
    for row in table:
        cells = []
        for key in ("", "_95pc"):
            steps, speed = row[f"steps_to_baseline_best{key}"], row[f"speed_up{key}"]
            cells += [f"{steps if steps is not None else '-':>16}", f"{f'x{speed:.1f}' if speed else '-':>9}"]
        best = f"{100 * row['best_val_accuracy']:>13.1f}% {row['best_at_step']:>8}"
        lines.append(f"{row['variant']:<18} {' '.join(cells)} {best}")
    return "\n".join(lines)


def plot_variant_curves(curves: dict[str, list[dict]], png: Path, title: str) -> Path:
    """Validation accuracy against training steps, one curve per variant (the paper's Figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100, layout="constrained")
    for name, rows in curves.items():
        style = "--" if name.startswith("Inception") else "-"
        ax.plot([r["step"] for r in rows], [r["val_accuracy"] for r in rows], style, label=name)
    ax.set_xlabel("training steps")
    ax.set_ylabel("validation accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return save_figure(fig, png)
