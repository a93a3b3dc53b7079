"""Writing outputs atomically: a temporary name beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing ``path`` unless ``overwrite``; create its folder."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path with ``path``'s suffixes; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left as it was, so a
    reader never sees a half-written file.
    """
    path = check_writable(path, overwrite)
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as Keras' save refuse or append to an existing file
    tmp = Path(tmp)
    try:
        yield tmp
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: appeared while writing; left untouched")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
