"""Writing outputs atomically: a temporary name beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from inception_v2.errors import InvalidArgument, NotAFileName, OutputExists


def refuse_existing(path: str | os.PathLike, overwrite: bool = False, hint: str = "") -> Path:
    """``OutputExists`` if ``path`` (a file or a folder) exists and ``overwrite`` is not set."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExists(f"{path}: already exists{'; ' + hint if hint else ''}")
    return path


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing ``path`` unless ``overwrite``; create its folder."""
    path = refuse_existing(path, overwrite)
    if path.is_dir():
        raise NotAFileName(f"{path}: is a directory, expected a file name")
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
            raise OutputExists(f"{path}: appeared while writing; left untouched")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_settings(record: str | os.PathLike, settings: dict, what: str, overwrite: bool) -> bool:
    """Compare ``settings`` with those recorded in the JSON file ``record`` by an earlier run.

    Returns True when they differ and ``overwrite`` allows starting afresh; refuses (naming
    each difference) when they differ without it; False when they match or none is recorded.
    """
    record = Path(record)
    if not record.exists():
        return False
    import json

    recorded = json.loads(record.read_text())
    changed = {k: (recorded.get(k), v) for k, v in settings.items() if recorded.get(k) != v}
    if changed and not overwrite:
        shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise InvalidArgument(
            f"{record.parent}: holds a {what} with other settings ({shown}); "
            "use a new --out, or --overwrite to start afresh"
        )
    return bool(changed)
