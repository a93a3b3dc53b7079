"""Ctrl-C as a command line means it: the work stops, whatever library it is in.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens to be, and
where that is a garbage-collection callback or a ``__del__`` (JAX's ``_xla_gc_callback``,
for one) the exception is printed as "ignored" and the work runs on. The command line's
handler also records the signal, and long loops call ``raise_if_interrupted`` at their safe
points (after each training step), so an interrupt that was swallowed still stops them.

Where the main thread waits in TensorFlow (an eager op, a ``tf.function``, a ``tf.data``
iterator's next element), TensorFlow itself checks for signals and cancels the op when a handler
raises; a ``tf.data`` iterator cancelled midway can corrupt the heap and abort the process
("free(): invalid next size", exit -6) before any message is printed. So loops over TensorFlow's
data and Keras' ``fit`` run under ``deferred``: a first Ctrl-C is only recorded and raised once
the element or step in flight has arrived; a second one raises at once.
Standard library only: the command line installs it before anything heavy is imported.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_received = threading.Event()  # SIGINT under handled()
_pending = threading.Event()  # SIGINT under deferred(), not raised yet


def _handler(signum, frame) -> None:
    _received.set()
    raise KeyboardInterrupt


def _deferring_handler(signum, frame) -> None:
    if _pending.is_set():  # the second Ctrl-C: at once, whatever is in flight
        raise KeyboardInterrupt
    _pending.set()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if SIGINT arrived under ``handled`` or ``deferred`` (a no-op
    otherwise)."""
    if _received.is_set() or _pending.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a first SIGINT back while the body runs; raise it when the body ends.

    Inside, Ctrl-C interrupts nothing in flight: ``raise_if_interrupted`` (a training step's
    callback) raises it at the body's next safe point, or the end of the body does. A second
    Ctrl-C raises at once. Off the main thread, or where SIGINT is ignored or not handled in
    Python (``SIG_IGN``, ``SIG_DFL``), the body runs as it is.

    Raises:
        KeyboardInterrupt: after the body, if SIGINT arrived during it.
    """
    if threading.current_thread() is not threading.main_thread() or not callable(
        signal.getsignal(signal.SIGINT)
    ):
        yield
        return
    outer = _pending.is_set()  # already held back by an enclosing deferred()
    previous = signal.signal(signal.SIGINT, _deferring_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        arrived = _pending.is_set() and not outer
        if not outer:
            _pending.clear()
    if arrived:
        raise KeyboardInterrupt


def iterate(items: Iterable[T]) -> Iterator[T]:
    """The items of ``items``, each fetched under ``deferred``: a Ctrl-C while the next
    ``tf.data`` element is being produced is raised once it has arrived, between elements.

    Raises:
        KeyboardInterrupt: between two items, after a Ctrl-C.
    """
    iterator = None
    while True:
        with deferred():
            if iterator is None:  # a tf.data iterator starts its threads as it is made
                iterator = iter(items)
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Record SIGINT (and raise ``KeyboardInterrupt``) for the body; the main thread only.

    A ``KeyboardInterrupt`` that a callback swallows is recorded, not printed ("Exception
    ignored in ..."): the work stops at its next safe point, or before its output is
    committed (``files.atomic_path``), with the command's one line. Other exceptions that
    Python cannot raise are shown as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGINT, _handler)
    previous_hook = sys.unraisablehook

    def unraisable(info) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        _received.clear()
