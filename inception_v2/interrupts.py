"""Ctrl-C as a command line means it: the work stops, whatever library it is in.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens to be, and
where that is a garbage-collection callback or a ``__del__`` (JAX's ``_xla_gc_callback``,
for one) the exception is printed as "ignored" and the work runs on. The command line's
handler also records the signal, and long loops call ``raise_if_interrupted`` at their safe
points (after each training step), so an interrupt that was swallowed still stops them.
Standard library only: the command line installs it before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_received = threading.Event()


def _handler(signum, frame) -> None:
    _received.set()
    raise KeyboardInterrupt


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived under ``handled`` (a no-op otherwise)."""
    if _received.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Record SIGINT (and raise ``KeyboardInterrupt``) for the body; the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _received.clear()
