"""Fine-tuning's backup: weights, optimizer state and position in one file, so that a killed
run continues where it was.

The position (epoch, step) is an attribute of the weights file itself, which is written under a
temporary name and renamed, so a kill at any moment leaves the previous backup whole and the
position always belongs to the weights it describes. (Keras' ``BackupAndRestore`` keeps the
position in a second file and counts a resumed run's epochs from 0 until its first epoch ends,
so a run killed twice within one epoch would start over.)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras

from inception_v2.errors import DataError
from inception_v2.files import atomic_path

log = logging.getLogger("inception_v2")
BACKUP_FILE = "state.weights.h5"
#: What Keras' ``BackupAndRestore`` wrote (runs started before this module): still resumed.
KERAS_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")


class Backup(keras.callbacks.Callback):
    """Saves ``folder/state.weights.h5`` every ``save_every`` training steps and at each epoch
    end; put it last among the callbacks, so that an epoch counts as done only once the
    others have written what they write for it."""

    def __init__(self, folder: str | Path, save_every: int):
        super().__init__()
        self.path, self.save_every = Path(folder) / BACKUP_FILE, save_every
        self.epoch = self.steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps % self.save_every == 0:
            self.save(self.epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1, 0)

    def save(self, epoch: int, step: int) -> None:
        """Back up the model as at ``step`` steps into epoch ``epoch`` (counted from 0)."""
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path, overwrite=True) as tmp:
            self.model.save_weights(tmp)
            with h5py.File(tmp, "a") as f:
                f.attrs["epoch"], f.attrs["step"] = epoch, step


def backup_position(folder: str | Path) -> dict[str, int] | None:
    """``{"epoch", "step"}`` of the backup in ``folder``, or None without one."""
    found = _find_backup(folder)
    return found[1] if found else None


def _find_backup(folder: str | Path) -> tuple[Path, dict[str, int]] | None:
    """The backup file in ``folder`` (this package's, else Keras' older layout) and its position."""
    import h5py

    path = Path(folder) / BACKUP_FILE
    if path.exists():
        try:
            with h5py.File(path, "r") as f:
                return path, {"epoch": int(f.attrs["epoch"]), "step": int(f.attrs["step"])}
        except (OSError, KeyError) as e:
            raise DataError(
                f"{path}: not a backup this package wrote ({e}); move it away to start afresh"
            ) from None
    weights, metadata = (Path(folder) / name for name in KERAS_BACKUP_FILES)
    if weights.exists() and metadata.exists():
        position = json.loads(metadata.read_text())
        return weights, {"epoch": int(position["epoch"]), "step": int(position.get("batch", 0))}
    return None


def restore(model: keras.Model, folder: str | Path) -> int:
    """Load the backup in ``folder`` into the compiled ``model``, optimizer state included;
    the epoch to continue from (0 without a backup). A resumed epoch starts over from its
    first step, with the weights of its last saved one."""
    found = _find_backup(folder)
    if found is None:
        return 0
    path, position = found
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so the file's optimizer state has a place
    try:
        model.load_weights(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot be loaded into this run's model ({e})") from None
    epoch, step = position["epoch"], position["step"]
    if step:
        log.info(
            "resuming epoch %d from the weights of its step %d (it runs again from its start)",
            epoch + 1,
            step,
        )
    else:
        log.info("resuming after epoch %d", epoch)
    return epoch
