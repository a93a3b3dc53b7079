"""The one progress bar of the library's long jobs (evaluation, prediction, downloads).

Not ``keras.utils.Progbar``: that writes to stdout, where eval, predict and bench put their
results (a JSON report must stay parseable), counts steps rather than images/s, and off a
terminal prints a line every 0.05 s. This one writes to stderr, shows throughput in the
job's own unit, and off a terminal prints a plain line every ``interval`` seconds.
Not ``tqdm`` either: off a terminal it rewrites its bar with carriage returns into the log
(plain lines need ``mininterval`` plus a custom format), and these 90 lines cost no dependency.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``[=====>    ] 640/1000 img  52.1 img/s  ETA 7s  top-1 71.2%`` on one terminal line.

    Off a terminal (logs, CI) it prints a plain line at most every ``interval`` seconds.
    """

    def __init__(
        self,
        total: int | None,
        unit: str = "img",
        stream: TextIO | None = None,
        interval: float = 10.0,
        width: int = 30,
        scale: float = 1.0,
    ):
        """``scale``: count in units of ``scale`` (e.g. bytes shown as MB with 1e6)."""
        self.total, self.unit, self.width, self.interval = total, unit, width, interval
        self.scale = scale
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0
        self.start = time.perf_counter()
        self._last_print = -float("inf")
        self._width_drawn = 0

    @property
    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, n: int, note: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if self.tty or now - self._last_print >= self.interval:
            self._last_print = now
            self._write(note, final=False)

    def close(self, note: str = "") -> None:
        self._write(note, final=True)

    def clear(self) -> None:
        """On a terminal, blank the bar's line so that other output can take it (the next
        update draws the bar again below)."""
        if self.tty and self._width_drawn:
            self.stream.write("\r" + " " * self._width_drawn + "\r")
            self.stream.flush()
            self._width_drawn = 0

    def _write(self, note: str, final: bool) -> None:
        rate = self.rate
        if self.total:
            filled = int(self.width * min(self.done / self.total, 1.0))
            bar = "=" * filled + (">" if filled < self.width else "") + " " * (self.width - filled - 1)
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            text = (
                f"[{bar[: self.width]}] {self._count(self.done)}/{self._count(self.total)} {self.unit}"
                f"  {rate / self.scale:.1f} {self.unit}/s"
            )
            if not final:
                text += f"  ETA {eta:.0f}s"
        else:
            text = f"{self._count(self.done)} {self.unit}  {rate / self.scale:.1f} {self.unit}/s"
        if note:
            text += f"  {note}"
        end = "\n" if final or not self.tty else ""
        self._width_drawn = 0 if end else len(text)
        self.stream.write(("\r" if self.tty else "") + text + end)
        self.stream.flush()

    def _count(self, n: int) -> str:
        return str(n) if self.scale == 1 else f"{n / self.scale:.0f}"
