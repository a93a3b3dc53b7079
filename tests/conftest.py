"""Shared fixtures: slim checkpoints built once per test run by tf_slim itself, and the command
as users run it."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# OpenVINO's converter sends usage telemetry unless it runs in CI (its own CI check): each send
# forks this multi-gigabyte process from a thread and waits on a network that may be closed, which
# slows every conversion and can stall a worker inside one (docs/performance.md). The tests run as CI.
os.environ.setdefault("CI", "true")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: Files the tests read, copied into the repository (tests/data/README.md says from where).
TEST_DATA = Path(__file__).resolve().parent / "data"


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path`` (created if missing): the pytest-xdist workers build
    a shared file one at a time, and a waiting worker finds it made."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def once(path: Path, build) -> Path:
    """``path``, made by ``build(temporary path)`` unless a worker of this run made it already."""
    with _locked(path.with_name(path.name + ".lock")):
        if not path.exists():
            partial = path.with_name("partial-" + path.name)  # the same suffix: .weights.h5 stays one
            if partial.is_dir():  # left by a build that failed in another test
                shutil.rmtree(partial)
            partial.unlink(missing_ok=True)
            build(partial)
            partial.rename(path)
    return path


class SlimCheckpoints:
    """Random slim checkpoints built by tf_slim, each configuration once per test run.

    The configurations live in a folder the pytest-xdist workers share; the first worker to
    need one builds it under a file lock, the others read it. Every configuration is built from
    the same seed (its shapes make its weights its own), so which worker builds it, and when,
    does not change them."""

    def __init__(self, root: Path):
        self.root = root
        self._variables: dict[tuple, dict[str, np.ndarray]] = {}

    def variables(
        self, num_classes: int | None = 1001, depth_multiplier: float = 1.0, min_depth: int = 16
    ) -> dict[str, np.ndarray]:
        key = (num_classes, depth_multiplier, min_depth)
        if key not in self._variables and num_classes not in (None, 1001):
            # Another head on the same base: slice the 1001-class one (the batch-norm statistics
            # do not depend on the head), instead of building and calibrating slim's graph again.
            base = self.variables(1001, depth_multiplier, min_depth)
            w, b = "InceptionV2/Logits/Conv2d_1c_1x1/weights", "InceptionV2/Logits/Conv2d_1c_1x1/biases"
            self._variables[key] = {**base, w: base[w][..., :num_classes], b: base[b][:num_classes]}
        if key not in self._variables:
            name = f"c{num_classes}_d{depth_multiplier}_m{min_depth}"

            def build(partial: Path) -> None:
                from inception_v2.weights.slim_reference import random_slim_variables

                variables = random_slim_variables(*key, seed=0)
                with open(partial, "wb") as f:
                    np.savez(f, **variables)

            with np.load(once(self.root / f"{name}.npz", build)) as saved:
                self._variables[key] = {k: saved[k] for k in saved.files}
            for value in self._variables[key].values():
                value.setflags(write=False)  # shared by the session: a test must not change them
        return self._variables[key]

    def path(
        self,
        num_classes: int | None = 1001,
        depth_multiplier: float = 1.0,
        min_depth: int = 16,
        version: str = "V2",
    ) -> str:
        """A checkpoint path as slim's Saver restores it (V1 file or V2 prefix)."""
        folder = self.root / f"c{num_classes}_d{depth_multiplier}_m{min_depth}_{version}"

        def build(partial: Path) -> None:
            from inception_v2.weights.slim_reference import save_slim_variables

            variables = self.variables(num_classes, depth_multiplier, min_depth)
            save_slim_variables(variables, str(partial / "inception_v2.ckpt"), version)

        once(folder, build)
        return str(folder / "inception_v2.ckpt")


def pytest_collection_finish(session) -> None:
    """Exempt what collection imported (TensorFlow, Keras, the library: objects that live to the
    end) from the garbage collector's full passes, which then walk only what the tests made
    (measured in docs/performance.md)."""
    gc.freeze()


@pytest.fixture(autouse=True)
def _garbage_collected_after_each_test():
    """Free the reference cycles a test leaves as it ends. Keras' own ``fit``/``predict`` on
    arrays and caught exceptions leave ``tf.data`` iterators in cycles; an autotuned iterator's
    destructor waits for its tuning thread's current period, which grows the longer it lives, so
    one freed by a full pass much later stalls whichever test that pass runs in."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory) -> Path:
    """A folder of this test run that every pytest-xdist worker sees (the run's own without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def slim_checkpoints(shared_tmp) -> SlimCheckpoints:
    root = shared_tmp / "slim_checkpoints"
    root.mkdir(exist_ok=True)
    return SlimCheckpoints(root)


def _converted_once(shared_tmp: Path, source: str, name: str) -> Path:
    """The slim checkpoint ``source`` converted once per test run to ``converted/NAME``."""
    from inception_v2 import convert_checkpoint

    folder = shared_tmp / "converted"
    folder.mkdir(exist_ok=True)
    return once(folder / name, lambda partial: convert_checkpoint(source, partial))


@pytest.fixture(scope="session")
def converted_1001(slim_checkpoints, shared_tmp) -> Path:
    """The 1001-class checkpoint converted once to .weights.h5."""
    return _converted_once(shared_tmp, slim_checkpoints.path(version="V1"), "inception_v2.weights.h5")


@pytest.fixture(scope="session")
def converted_thin(slim_checkpoints, shared_tmp) -> Path:
    """A 1001-class slim network four times thinner (depth multiplier 0.25), converted once:
    for what needs ImageNet's label space and a real command but not the full width."""
    return _converted_once(shared_tmp, slim_checkpoints.path(depth_multiplier=0.25), "thin.weights.h5")


@pytest.fixture(scope="session")
def live_thin(shared_tmp) -> Path:
    """A 1001-class network four times thinner with live weights (``bench.live_weights``:
    batch-norm statistics of the bundled validation images, logits centred), saved once as
    ``.weights.h5``: its top-1 class varies from image to image, so agreement on it means much."""

    def build(partial: Path) -> None:
        import dataclasses

        import keras

        from inception_v2 import InceptionV2, open_data
        from inception_v2.bench.live_weights import make_live
        from inception_v2.weights.checkpoint import infer_config, model_variable_map
        from inception_v2.weights.keras_files import save_weights

        keras.utils.set_random_seed(0)  # the same network whichever run builds it
        bundled = np.concatenate([b["image"].numpy() for b in open_data(None).batches(50)])
        model = make_live(InceptionV2(depth_multiplier=0.25, input_shape=(224, 224, 3)), bundled, seed=3)
        config = dataclasses.asdict(infer_config(model_variable_map(model)))
        save_weights(model, partial, config)

    folder = shared_tmp / "converted"
    folder.mkdir(exist_ok=True)
    return once(folder / "live_thin.weights.h5", build)


def images(n: int, height: int = 224, width: int = 224, seed: int = 0) -> np.ndarray:
    from inception_v2.weights.slim_reference import smooth_random_images

    return smooth_random_images(n, height, width, np.random.default_rng(seed))


# ----------------------------------------------------------------------------- the command, as users run it


def command_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell gives the command (``extra`` added): unbuffered, and
    without the suite's TF_CPP_MIN_LOG_LEVEL, since the command must quiet TensorFlow itself."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def command(*args) -> list[str]:
    """``inception-v2 ARGS`` as a subprocess argument list."""
    return [sys.executable, "-m", "inception_v2", *map(str, args)]


def run_command(*args, cwd=None, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    """Run ``inception-v2 ARGS`` to the end, capturing its output."""
    return subprocess.run(
        command(*args), env=command_env(**env), capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def run_in_process(capsys, *args) -> subprocess.CompletedProcess:
    """``inception-v2 ARGS`` as ``main`` runs it in this process, stdout and stderr captured.

    The command's own code without a new interpreter's seconds of imports; what needs a
    process of its own (signals, the interpreter's exit, another Keras backend, the quieting
    of TensorFlow's C++ logs) uses ``run_command``."""
    from inception_v2.cli import main

    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["inception-v2", *map(str, args)], status, out, err)


def one_error_line(done: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    """Exit ``code`` (2: bad input), and stderr is exactly one line holding every fragment,
    no traceback; that line."""
    assert done.returncode == code, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
