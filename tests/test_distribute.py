"""Data-parallel fine-tuning on tf.distribute equals single-device training.

Two logical CPUs under MirroredStrategy train the head for 3 steps on the same global
batch (8 real images) as a single-device run; the head's weights must agree to 1e-5.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inception_v2.train_data import make_dataset, scan_class_folders

HELPER = Path(__file__).parent / "helpers" / "distributed_step.py"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from conftest import SHARED

    data = scan_class_folders(SHARED / "data" / "hymenoptera" / "val")
    images, labels = next(iter(make_dataset(data, 200, training=False)))
    pick = np.r_[0:4, len(labels) - 4 : len(labels)]  # 4 ants, 4 bees
    path = tmp_path_factory.mktemp("dist") / "batch.npz"
    np.savez(path, images=images.numpy()[pick], labels=labels.numpy()[pick])
    return path


def _run(mode, checkpoint, batch, out):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, str(HELPER), mode, checkpoint, str(batch), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def single(slim_checkpoints, batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "head.npy"
    assert "replicas 1" in _run("single", slim_checkpoints.path(), batch, out)
    return np.load(out)


def test_mirrored_two_devices_equals_single(slim_checkpoints, batch, single, tmp_path):
    out = tmp_path / "head.npy"
    assert "replicas 2" in _run("mirrored", slim_checkpoints.path(), batch, out)
    head = np.load(out)
    assert np.abs(single).max() > 1e-4, "training moved the head"
    assert np.abs(head - single).max() <= TOLERANCE
