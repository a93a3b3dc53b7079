"""Ctrl-C while TensorFlow produces data: held back until the element has arrived.

A ``tf.data`` iterator that TensorFlow cancels midway (it does when a SIGINT handler raises
while its main thread waits) can corrupt the heap and abort the process with no message; the
library's loops fetch each element under ``interrupts.deferred``. The signals here are sent by
the code that produces the element, so where they land does not depend on timing.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import traceback

import pytest

from inception_v2 import interrupts


def _produce(log: list, kills_at: dict[int, int]):
    """Items 0, 1, 2; while producing item i, send ``kills_at[i]`` SIGINTs to this process,
    then log that item i was finished."""
    for i in range(3):
        for _ in range(kills_at.get(i, 0)):
            log.append(f"signalling {i}")
            os.kill(os.getpid(), signal.SIGINT)
        log.append(f"finished {i}")
        yield i


def test_plain_iteration_is_interrupted_inside_the_producer():
    """The negative control: without ``iterate``, Python raises inside the producing code."""
    log, got = [], []
    with pytest.raises(KeyboardInterrupt):
        for item in _produce(log, {1: 1}):
            got.append(item)
    assert got == [0]
    assert log == ["finished 0", "signalling 1"]  # item 1 was never finished


def test_a_ctrl_c_is_raised_once_the_item_in_flight_has_arrived():
    log, got = [], []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        for item in interrupts.iterate(_produce(log, {1: 1})):
            got.append(item)
    assert log == ["finished 0", "signalling 1", "finished 1"]  # item 1 was finished ...
    assert got == [0]  # ... and the loop stopped before its body ran again
    assert signal.getsignal(signal.SIGINT) is before
    interrupts.raise_if_interrupted()  # nothing left pending after the loop


def test_a_second_ctrl_c_raises_at_once():
    log = []
    with pytest.raises(KeyboardInterrupt):
        for _ in interrupts.iterate(_produce(log, {1: 2})):
            pass
    assert log == ["finished 0", "signalling 1", "signalling 1"]  # the second stopped item 1 midway


def test_a_loop_without_ctrl_c_is_untouched():
    log = []
    before = signal.getsignal(signal.SIGINT)
    assert list(interrupts.iterate(_produce(log, {}))) == [0, 1, 2]
    assert signal.getsignal(signal.SIGINT) is before


def test_an_ignored_sigint_stays_ignored():
    """A command started with SIGINT ignored (``nohup``, ``&`` in a script) is not made
    interruptible by the library."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        log = []
        assert list(interrupts.iterate(_produce(log, {1: 1}))) == [0, 1, 2]
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_deferred_raises_a_held_back_ctrl_c_at_its_end():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after the signal")
    assert done == ["after the signal"]


def _tf_elements_signalling_at(index: int):
    """0, 1, 2 from tf.data; element ``index`` sends SIGINT while it is made (a ``py_function``
    on one of tf.data's threads, while the main thread waits in the iterator)."""
    import tensorflow as tf

    def element(i):
        if int(i) == index:
            os.kill(os.getpid(), signal.SIGINT)
        return i

    ds = tf.data.Dataset.range(3).map(lambda i: tf.py_function(element, [i], tf.int64))
    options = tf.data.Options()  # nothing made ahead: element ``index`` is made inside its next()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    return ds.with_options(options)


def _interrupted_at(loop) -> tuple[list[int], str]:
    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for item in loop:
            got.append(int(item))
    return got, traceback.extract_tb(raised.value.__traceback__)[-1].filename


def test_plain_iteration_is_interrupted_inside_tensorflows_iterator():
    """The negative control: the KeyboardInterrupt comes out of TensorFlow's own frames."""
    got, where = _interrupted_at(_tf_elements_signalling_at(1))
    assert got == [0]
    assert where != interrupts.__file__ and "tensorflow" in where, where


def test_tensorflows_iterator_is_not_cancelled():
    """With ``iterate``, the KeyboardInterrupt comes from ``interrupts``, after the element
    arrived, not from inside TensorFlow."""
    got, where = _interrupted_at(interrupts.iterate(_tf_elements_signalling_at(1)))
    assert got == [0]
    assert where == interrupts.__file__, where


def _swallowed_ctrl_c() -> None:
    """A Ctrl-C that lands in a library's callback, which prints it as "ignored" and goes on."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100):
            pass
    except KeyboardInterrupt:
        pass


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_nothing_is_committed_after_a_swallowed_ctrl_c(kind, tmp_path):
    from inception_v2.files import atomic_folder, atomic_path

    target = tmp_path / ("r.json" if kind == "file" else "out")

    def write():
        if kind == "file":
            with atomic_path(target) as tmp:
                tmp.write_text("{}")
                _swallowed_ctrl_c()
        else:
            with atomic_folder(target, False, "test") as staging:
                (staging / "model.xml").write_text("<net/>")
                _swallowed_ctrl_c()

    write()  # the negative control: unrecorded (no command line's handler), the output is written
    assert target.exists()
    if kind == "folder":
        shutil.rmtree(target)
    else:
        target.unlink()
    with interrupts.handled(), pytest.raises(KeyboardInterrupt):
        write()
    assert list(tmp_path.iterdir()) == [], "nothing committed, nothing left behind"


def test_a_swallowed_ctrl_c_is_not_printed_but_other_unraisables_are(monkeypatch):
    """JAX's garbage-collection callback is where a Ctrl-C most often lands: Python prints
    it as "Exception ignored in ..." and goes on. Under ``handled`` the command's one line says
    it; another exception in a callback still reaches the hook that shows it."""
    shown = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: shown.append(type(info.exc_value)))

    class Swallows:
        def __init__(self, error):
            self.error = error

        def __del__(self):
            raise self.error

    # Each object is finalized as its statement ends (nothing refers to it): no collection needed.
    with interrupts.handled():
        Swallows(KeyboardInterrupt())
        Swallows(ValueError("a real bug"))
    assert shown == [ValueError]
    Swallows(KeyboardInterrupt())  # the negative control: outside, Python's hook gets it
    assert shown == [ValueError, KeyboardInterrupt]
