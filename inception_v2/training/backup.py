"""Fine-tuning's backup: weights, optimizer state and position in one file, so that a killed
run continues where it was.

The position (epoch, step) is written in the same file as the state it describes, under a
temporary name renamed into place, so a kill at any moment leaves the previous backup whole.
The file holds the model's and the optimizer's variables as arrays in their order (HDF5, one
dataset each, named by position, the variable's path beside it), written and read without
Keras' saving machinery, which walks the whole object graph in Python on every call: a
backup is taken every few steps, and its cost is paid each time.

Older runs still resume: from this package's earlier file (Keras' ``save_weights`` layout
with the position as attributes) and from Keras' ``BackupAndRestore`` files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from inception_v2.errors import DataError
from inception_v2.files import atomic_path

log = logging.getLogger("inception_v2")
BACKUP_FILE = "state.h5"
FORMAT = "inception_v2 backup 1"
#: Earlier layouts, still resumed: this package's Keras-weights file with its position as
#: attributes, and what Keras' ``BackupAndRestore`` writes.
KERAS_LAYOUT_FILE = "state.weights.h5"
KERAS_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")


class Backup(keras.callbacks.Callback):
    """Saves ``folder/state.h5`` every ``save_every`` training steps and at each epoch
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
        with atomic_path(self.path, overwrite=True) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"], f.attrs["epoch"], f.attrs["step"] = FORMAT, epoch, step
            for name, variables in _state(self.model).items():
                group = f.create_group(name)
                for i, variable in enumerate(variables):
                    dataset = group.create_dataset(str(i), data=keras.ops.convert_to_numpy(variable))
                    dataset.attrs["path"] = variable.path
        for name in (KERAS_LAYOUT_FILE, *KERAS_BACKUP_FILES):  # superseded by the file just written
            (self.path.parent / name).unlink(missing_ok=True)


def _state(model: keras.Model) -> dict[str, list]:
    """What a backup holds, by group: the model's variables (weights, batch-norm statistics,
    dropout's seed state) and the optimizer's."""
    return {"model": list(model.variables), "optimizer": list(model.optimizer.variables)}


def backup_position(folder: str | Path) -> dict[str, int] | None:
    """``{"epoch", "step"}`` of the backup in ``folder``, or None without one."""
    found = _find_backup(folder)
    return found[1] if found else None


def _find_backup(folder: str | Path) -> tuple[Path, dict[str, int]] | None:
    """The backup file in ``folder`` (this package's, else an earlier layout) and its position.

    Raises:
        DataError: a file by this package's names that it did not write.
    """
    import h5py

    for name in (BACKUP_FILE, KERAS_LAYOUT_FILE):
        path = Path(folder) / name
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
        try:
            position = json.loads(metadata.read_text())
            return weights, {"epoch": int(position["epoch"]), "step": int(position.get("batch", 0))}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(
                f"{metadata}: not a backup this package wrote ({e!r}); move it away to start afresh"
            ) from None
    return None


def restore(model: keras.Model, folder: str | Path) -> int:
    """Load the backup in ``folder`` into the compiled ``model``, optimizer state included;
    the epoch to continue from (0 without a backup). A resumed epoch starts over from its
    first step, with the weights of its last saved one.

    Raises:
        DataError: the backup is unreadable or holds another model's variables.
    """
    found = _find_backup(folder)
    if found is None:
        return 0
    path, position = found
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so the file's optimizer state has a place
    try:
        if path.name == BACKUP_FILE:
            _load_state(model, path)
        else:
            model.load_weights(path)
    except (OSError, ValueError, KeyError) as e:
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


def _load_state(model: keras.Model, path: Path) -> None:
    """Assign the arrays of ``path`` to ``model``'s and its optimizer's variables, position by
    position, once all of them are checked to fit.

    Raises:
        ValueError: another layout, or an array that does not fit its variable.
    """
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"not {FORMAT!r}")
        pairs = []
        for name, variables in _state(model).items():
            group = f[name]
            if len(group) != len(variables):
                raise ValueError(f"{len(group)} {name} arrays for {len(variables)} variables")
            for i, variable in enumerate(variables):
                array = group[str(i)][()]
                if tuple(array.shape) != tuple(variable.shape) or np.dtype(array.dtype) != np.dtype(
                    keras.backend.standardize_dtype(variable.dtype)
                ):
                    raise ValueError(
                        f"{group[str(i)].attrs['path']} is {array.dtype}{list(array.shape)}, "
                        f"{variable.path} {variable.dtype}{list(variable.shape)}"
                    )
                pairs.append((variable, array))
    for variable, array in pairs:
        variable.assign(array)
