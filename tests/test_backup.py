"""Fine-tuning's backup on a tiny model: position, optimizer state, a second kill, old layouts."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import h5py  # noqa: E402

from inception_v2.errors import DataError  # noqa: E402
from inception_v2.training.backup import BACKUP_FILE, KERAS_LAYOUT_FILE, Backup, backup_position, restore  # noqa: E402

X = np.random.default_rng(0).random((40, 3), dtype=np.float32)
Y = X.sum(axis=1, keepdims=True)
EPOCHS, BATCH = 3, 4  # 10 steps an epoch


class _Kill(keras.callbacks.Callback):
    """Interrupts training after step ``step`` (counted from 1) of epoch ``epoch`` (from 0)."""

    def __init__(self, epoch: int, step: int):
        super().__init__()
        self.at, self.epoch = (epoch, step), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch + 1) == self.at:
            raise KeyboardInterrupt


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def _fit(folder, kill: tuple[int, int] | None = None, backup=None) -> tuple[keras.Model, int | None]:
    """A run in ``folder``, resumed from its backup; the model and the epochs it ran (None if killed)."""
    model = _model()
    callbacks = [_Kill(*kill)] if kill else []
    callbacks.append(backup or Backup(folder, save_every=3))
    try:
        history = model.fit(
            X,
            Y,
            batch_size=BATCH,
            epochs=EPOCHS,
            verbose=0,
            callbacks=callbacks,
            initial_epoch=restore(model, folder),
        )
    except KeyboardInterrupt:
        return model, None
    return model, len(history.history.get("loss", []))


def test_killed_twice_in_one_epoch_resumes_that_epoch(tmp_path):
    _fit(tmp_path, kill=(1, 7))
    assert backup_position(tmp_path) == {"epoch": 1, "step": 5}  # saved every 3 steps: 3, 6, ..., 15
    _fit(tmp_path, kill=(1, 4))
    # Keras' BackupAndRestore records epoch 0 here (its counter restarts at 0 on resume).
    assert backup_position(tmp_path) == {"epoch": 1, "step": 3}
    model, epochs_run = _fit(tmp_path)
    assert epochs_run == EPOCHS - 1  # the second and third epochs, not all three again
    assert backup_position(tmp_path) == {"epoch": EPOCHS, "step": 0}
    _, epochs_run = _fit(tmp_path)
    assert epochs_run == 0


def test_weights_and_optimizer_state_come_back(tmp_path):
    trained, _ = _fit(tmp_path)
    restored = _model()
    assert restore(restored, tmp_path) == EPOCHS
    for a, b in zip(trained.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert int(restored.optimizer.iterations.numpy()) == EPOCHS * len(X) // BATCH
    for a, b in zip(trained.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_a_run_backed_up_by_keras_backup_and_restore_still_resumes(tmp_path):
    keras_backup = keras.callbacks.BackupAndRestore(str(tmp_path), save_freq="epoch", delete_checkpoint=False)
    _fit(tmp_path, kill=(2, 2), backup=keras_backup)
    assert backup_position(tmp_path) == {"epoch": 2, "step": 0}
    assert not (tmp_path / BACKUP_FILE).exists()
    _, epochs_run = _fit(tmp_path)
    assert epochs_run == 1
    assert backup_position(tmp_path) == {"epoch": EPOCHS, "step": 0}  # now in this package's file


def test_a_foreign_backup_file_is_refused_by_name(tmp_path):
    (tmp_path / BACKUP_FILE).write_bytes(b"not HDF5")
    with pytest.raises(DataError, match=BACKUP_FILE):
        restore(_model(), tmp_path)


def test_a_backup_in_the_earlier_keras_weights_layout_still_resumes(tmp_path):
    trained, _ = _fit(tmp_path / "run")
    legacy = tmp_path / KERAS_LAYOUT_FILE
    trained.save_weights(legacy)  # what this package wrote before its own format
    with h5py.File(legacy, "a") as f:
        f.attrs["epoch"], f.attrs["step"] = 2, 0
    restored = _model()
    assert restore(restored, tmp_path) == 2
    for a, b in zip(
        trained.weights + trained.optimizer.variables,
        restored.weights + restored.optimizer.variables,
        strict=True,
    ):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    _, epochs_run = _fit(tmp_path)
    assert epochs_run == 1 and backup_position(tmp_path) == {"epoch": EPOCHS, "step": 0}
    assert not legacy.exists(), "superseded by the new backup"


def test_another_models_backup_is_refused_before_anything_changes(tmp_path):
    _fit(tmp_path)
    wider = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    wider.compile(keras.optimizers.Adam(1e-2), "mse")
    before = [keras.ops.convert_to_numpy(v) for v in wider.weights]
    with pytest.raises(
        DataError, match=rf"{BACKUP_FILE}: cannot be loaded into this run's model .*float32\[3, 1\]"
    ):
        restore(wider, tmp_path)
    for a, b in zip(before, wider.weights, strict=True):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b))
