"""Converted weights files: ``.weights.h5`` (with the model arguments) and ``.keras``.

Keras' ``.weights.h5`` (also inside a ``.keras`` archive) names its arrays by a layout of its
own, not by layer name. So the writer records, beside Keras' arrays, which of them holds each
slim variable (an HDF5 attribute, or a JSON file in the archive); the reader then takes
slim-named arrays straight from the file, without building a model. The record is found by
content, not by Keras' (private) layout rule: each variable's value is looked up among the
arrays Keras wrote, so whatever layout a Keras release writes, a recorded array is that
variable's value (arrays of equal content are interchangeable). Files without a record
(written by Keras itself, or a variable Keras did not write) are read through a model,
``.keras`` in Keras' safe mode.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from pathlib import Path

import keras
import numpy as np

from inception_v2.errors import InvalidArgument, MissingFile
from inception_v2.files import atomic_path
from inception_v2.weights.checkpoint import CheckpointError, model_variable_map

CONFIG_ATTRIBUTE = "inception_v2_config"  # HDF5 attribute holding the model arguments
ARRAYS_ATTRIBUTE = "inception_v2_arrays"  # {slim variable name: HDF5 dataset path}
ARRAYS_FILE = "inception_v2_arrays.json"  # the same, inside a .keras archive
#: The record of earlier versions, {HDF5 dataset path: slim variable name}: still read.
VARIABLES_ATTRIBUTE = "inception_v2_variables"
VARIABLES_FILE = "inception_v2_variables.json"
CLASSES_ATTRIBUTE = "inception_v2_class_names"  # a fine-tuned model's class names (JSON list)
CLASSES_FILE = "inception_v2_class_names.json"  # the same, inside a .keras archive
ARCHIVE_WEIGHTS = "model.weights.h5"  # where a .keras archive keeps its arrays
SUFFIXES = (".weights.h5", ".keras")

log = logging.getLogger(__name__)


def is_keras_weights(path: str | os.PathLike) -> bool:
    """True for a path named like a converted file (``.weights.h5`` or ``.keras``)."""
    return str(path).endswith(SUFFIXES)


def save_weights(
    model: keras.Model,
    destination: str | os.PathLike,
    config: dict,
    overwrite: bool = False,
    class_names: list[str] | None = None,
) -> Path:
    """Save ``model`` as ``.weights.h5`` (with its arguments and slim names) or ``.keras``,
    with ``class_names`` inside when given (``read_class_names``).

    Written under a temporary name and renamed, so no half-written file is left.
    """
    import h5py

    destination = Path(destination)
    with atomic_path(destination, overwrite=overwrite) as tmp:
        if destination.name.endswith(".keras"):
            model.save(tmp)
            with zipfile.ZipFile(tmp, "a") as archive:
                paths = None
                if ARCHIVE_WEIGHTS in archive.namelist():
                    with h5py.File(io.BytesIO(archive.read(ARCHIVE_WEIGHTS)), "r") as f:
                        paths = _array_record(model, f)
                if paths is not None:
                    archive.writestr(ARRAYS_FILE, json.dumps(paths))
                if class_names is not None:
                    archive.writestr(CLASSES_FILE, json.dumps(class_names))
        else:
            model.save_weights(tmp)
            with h5py.File(tmp, "a") as f:
                f.attrs[CONFIG_ATTRIBUTE] = json.dumps(config)
                paths = _array_record(model, f)
                if paths is not None:
                    f.attrs[ARRAYS_ATTRIBUTE] = json.dumps(paths)
                if class_names is not None:
                    f.attrs[CLASSES_ATTRIBUTE] = json.dumps(class_names)
    return destination


def save_keras_and_weights(
    model: keras.Model,
    stem: str | os.PathLike,
    config: dict,
    overwrite: bool = False,
    class_names: list[str] | None = None,
) -> tuple[Path, Path]:
    """Save ``model`` as ``STEM.keras`` and ``STEM.weights.h5``, each as ``save_weights`` does.

    Keras' saving walks the model's object graph in Python; this walks it once: the
    ``.weights.h5`` is the archive's own weights file (the same layout ``model.save_weights``
    writes) with the model arguments and slim names added. ``class_names`` travel inside both
    files (``read_class_names``), so a copied model still names its classes.

    Returns:
        The two paths.

    Raises:
        OutputExists, OutputError: as ``save_weights``.
    """
    import h5py

    archive_path = save_weights(model, f"{stem}.keras", config, overwrite, class_names)
    destination = Path(f"{stem}.weights.h5")
    with atomic_path(destination, overwrite=overwrite) as tmp:
        with zipfile.ZipFile(archive_path) as archive:
            tmp.write_bytes(archive.read(ARCHIVE_WEIGHTS))
            paths = archive.read(ARRAYS_FILE) if ARRAYS_FILE in archive.namelist() else None
        with h5py.File(tmp, "a") as f:
            f.attrs[CONFIG_ATTRIBUTE] = json.dumps(config)
            if paths is not None:
                f.attrs[ARRAYS_ATTRIBUTE] = paths.decode()
            if class_names is not None:
                f.attrs[CLASSES_ATTRIBUTE] = json.dumps(class_names)
    return archive_path, destination


def read_class_names(path: str | os.PathLike) -> list[str] | None:
    """The class names saved inside a ``.keras`` or ``.weights.h5`` file, or None."""
    import h5py

    path = Path(path)
    try:
        if path.name.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                text = archive.read(CLASSES_FILE) if CLASSES_FILE in archive.namelist() else None
        elif path.name.endswith(".h5") and path.is_file():
            with h5py.File(path, "r") as f:
                text = f.attrs.get(CLASSES_ATTRIBUTE)
        else:
            return None
        names = json.loads(text) if text is not None else None
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def read_keras_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from a converted ``.weights.h5`` or ``.keras`` file.

    ``.keras`` files are loaded in Keras' safe mode (no arbitrary code). A
    ``.weights.h5`` must carry the model arguments or the slim names the converter records.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"{path}: no such weights file")
    try:
        if path.name.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
                for record_file in (ARRAYS_FILE, VARIABLES_FILE):
                    if record_file in names:
                        with h5py.File(io.BytesIO(archive.read(ARCHIVE_WEIGHTS)), "r") as f:
                            return _recorded_arrays(f, archive.read(record_file), record_file == ARRAYS_FILE)
            source = keras.saving.load_model(path, compile=False, safe_mode=True)
        else:
            with h5py.File(path, "r") as f:
                for attribute in (ARRAYS_ATTRIBUTE, VARIABLES_ATTRIBUTE):
                    if attribute in f.attrs:
                        return _recorded_arrays(f, f.attrs[attribute], attribute == ARRAYS_ATTRIBUTE)
                config = f.attrs.get(CONFIG_ATTRIBUTE)
            source = _model_for(path, config)
            source.load_weights(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: not a readable Keras weights file ({e})") from None
    return {name: np.asarray(keras.ops.convert_to_numpy(v)) for name, v in model_variable_map(source).items()}


def _recorded_arrays(f, record: str | bytes, by_name: bool) -> dict[str, np.ndarray]:
    """``{slim name: array}`` from the open HDF5 file ``f`` by its JSON record: ``{slim name:
    dataset path}`` (``by_name``), or earlier versions' ``{dataset path: slim name}``."""
    pairs = json.loads(record).items()
    if not by_name:
        pairs = [(name, p) for p, name in pairs]
    return {name: np.asarray(f[p]) for name, p in pairs}


def _array_record(model: keras.Model, f) -> dict[str, str] | None:
    """``{slim name: dataset path}``: for each of ``model``'s variables, an array of ``f`` (the
    file Keras just wrote from it) holding exactly its value (dtype, shape and bytes), or None
    (logged) when a variable has none or is not a slim variable."""
    import h5py

    try:
        variables = model_variable_map(model)
    except InvalidArgument as e:  # a layer the slim names do not cover
        log.debug("no slim names recorded: %s", e)
        return None
    by_content: dict[tuple, str] = {}

    def index(path: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            by_content.setdefault(_content_key(np.asarray(item)), path)

    f.visititems(index)
    record = {}
    for name, variable in variables.items():
        path = by_content.get(_content_key(np.asarray(keras.ops.convert_to_numpy(variable))))
        if path is None:
            log.warning("%s: Keras wrote no array holding its value; slim names not recorded", name)
            return None
        record[name] = path
    return record


def _content_key(value: np.ndarray) -> tuple:
    """What makes two arrays interchangeable: dtype, shape and bytes (a digest of them)."""
    return value.dtype.str, value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()


def _model_for(path: Path, config: str | None) -> keras.Model:
    """The model whose structure ``path`` (a ``.weights.h5``) was saved from."""
    from inception_v2.model.network import (  # the file format needs the builder
        build_inception_v2,
        image_shape,
    )

    if config is None:
        raise CheckpointError(
            f"{path}: no '{CONFIG_ATTRIBUTE}' attribute; not written by inception-v2 convert"
            " (load it with model.load_weights instead)"
        )
    kwargs = json.loads(config)
    classes = kwargs.pop("classes")
    return build_inception_v2(
        include_top=classes is not None,
        classes=classes or 1,
        input_shape=image_shape(None, None),
        spatial_squeeze=False,
        **kwargs,
    )
