"""Shared fixtures: slim checkpoints built once per test session by tf_slim itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from inception_v2.slim_reference import (  # noqa: E402
    random_slim_variables,
    save_slim_variables,
    smooth_random_images,
)

#: Files the tests read, copied into the repository (tests/data/README.md says from where).
TEST_DATA = Path(__file__).resolve().parent / "data"


class SlimCheckpoints:
    """Builds random slim checkpoints on demand, each configuration once per session."""

    def __init__(self, root: Path):
        self.root = root
        self._variables: dict[tuple, dict[str, np.ndarray]] = {}
        self._paths: dict[tuple, str] = {}

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
            self._variables[key] = random_slim_variables(
                num_classes, depth_multiplier, min_depth, seed=len(self._variables)
            )
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
        key = (num_classes, depth_multiplier, min_depth, version)
        if key not in self._paths:
            name = f"c{num_classes}_d{depth_multiplier}_m{min_depth}_{version}"
            self._paths[key] = save_slim_variables(
                self.variables(num_classes, depth_multiplier, min_depth),
                str(self.root / name / "inception_v2.ckpt"),
                version,
            )
        return self._paths[key]


@pytest.fixture(scope="session")
def slim_checkpoints(tmp_path_factory) -> SlimCheckpoints:
    return SlimCheckpoints(tmp_path_factory.mktemp("slim_checkpoints"))


@pytest.fixture(scope="session")
def converted_1001(slim_checkpoints, tmp_path_factory) -> Path:
    """The 1001-class checkpoint converted once to .weights.h5."""
    from inception_v2 import convert_checkpoint

    dst = tmp_path_factory.mktemp("converted") / "inception_v2.weights.h5"
    convert_checkpoint(slim_checkpoints.path(version="V1"), dst)
    return dst


def images(n: int, height: int = 224, width: int = 224, seed: int = 0) -> np.ndarray:
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


def one_error_line(done: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> str:
    """Exit ``code`` (2: bad input), and stderr is exactly one line holding every fragment,
    no traceback; that line."""
    assert done.returncode == code, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
