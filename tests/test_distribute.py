"""Data-parallel fine-tuning on tf.distribute equals single-device training.

Two logical CPUs under MirroredStrategy (model.fit), and two worker processes on 127.0.0.1
under MultiWorkerMirroredStrategy (distributed_fit), each train the head for 3 steps on the
same global batch (8 real images) as a single-device model.fit run; the head's weights must
agree to 1e-5. The network is slim's, four times thinner (depth multiplier 0.25): what is
tested is how the replicas' gradients are combined, not the network's width.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from inception_v2.data.training import make_dataset, scan_class_folders

pytestmark = pytest.mark.slow  # trains, or runs several backends or commands: not in the quick subset

HELPER = Path(__file__).parent / "helpers" / "distributed_step.py"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from inception_v2.data.example_data import example_data_path

    data = scan_class_folders(example_data_path() / "val")
    images, labels = next(iter(make_dataset(data, 200, training=False)))
    pick = np.r_[0:4, len(labels) - 4 : len(labels)]  # 4 ants, 4 bees
    path = tmp_path_factory.mktemp("dist") / "batch.npz"
    np.savez(path, images=images.numpy()[pick], labels=labels.numpy()[pick])
    return path


def _start(mode, checkpoint, batch, out, env_extra=None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    command = [sys.executable, str(HELPER), mode, checkpoint, str(batch), str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(mode, checkpoint, batch, out):
    process = _start(mode, checkpoint, batch, out)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


@pytest.fixture(scope="module")
def single(slim_checkpoints, batch):
    """The single-device reference, trained in this process (the default strategy needs no
    device set up before TensorFlow starts)."""
    import tensorflow as tf
    from helpers.distributed_step import train_head

    strategy = tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    return train_head(strategy, slim_checkpoints.path(depth_multiplier=0.25), str(batch))


def test_mirrored_two_devices_equals_single(slim_checkpoints, batch, single, tmp_path):
    out = tmp_path / "head.npy"
    assert "replicas 2" in _run("mirrored", slim_checkpoints.path(depth_multiplier=0.25), batch, out)
    head = np.load(out)
    assert np.abs(single).max() > 1e-4, "training moved the head"
    assert np.abs(head - single).max() <= TOLERANCE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: What a worker prints when its port was taken between _free_port and its server starting.
PORT_TAKEN = ("Address already in use", "Failed to add port")


def _two_workers(checkpoint, batch, tmp_path) -> list[tuple[int, str, str]]:
    """Run both workers once on two fresh ports; (returncode, stdout, stderr) per worker."""
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    processes = []
    try:
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            out = tmp_path / f"head{index}.npy"
            processes.append(_start("worker", checkpoint, batch, out, {"TF_CONFIG": json.dumps(config)}))
        outputs = [p.communicate(timeout=600) for p in processes]
        return [(p.returncode, *output) for p, output in zip(processes, outputs, strict=True)]
    finally:
        for p in processes:
            p.kill()


def test_multi_worker_on_localhost_equals_single(slim_checkpoints, batch, single, tmp_path):
    # A port another process takes between choosing and binding is the only retried failure.
    for _ in range(3):
        results = _two_workers(slim_checkpoints.path(depth_multiplier=0.25), batch, tmp_path)
        if not any(taken in stderr for _, _, stderr in results for taken in PORT_TAKEN):
            break
    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr[-3000:]
        assert "replicas 2" in stdout
    for index in range(2):
        assert np.abs(np.load(tmp_path / f"head{index}.npy") - single).max() <= TOLERANCE
