"""Outputs that lose nothing: checked before the work, written under a temporary name and
renamed when complete, and replaced (with ``overwrite``) only when they are what the command
itself writes: a file where a file is written, and a folder only when it carries the mark of
the command that made it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from inception_v2.errors import NotAFileName, OutputError, OutputExists
from inception_v2.interrupts import raise_if_interrupted

log = logging.getLogger("inception_v2")

#: The file that marks a folder as one a command of this package wrote (export's SavedModel).
OWNER_MARK = "inception_v2_output.json"

#: Every output this process has put in place (file or folder), in order: what a command
#: stopped midway says it wrote (``written_since``).
_completed: list[Path] = []


def written_since(count: int) -> list[Path]:
    """The outputs put in place since ``len(written_since(0))`` was ``count``."""
    return list(_completed[count:])


def refuse_existing(path: str | os.PathLike, overwrite: bool = False, hint: str = "") -> Path:
    """``OutputExists`` if ``path`` (a file or a folder) exists and ``overwrite`` is not set."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExists(f"{path}: already exists{'; ' + hint if hint else ''}")
    return path


def _missing_parents(path: Path) -> list[Path]:
    """``path``'s parents that do not exist yet, deepest first (what writing it would create)."""
    missing, parent = [], path.absolute().parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return missing


def _file_target(path: str | os.PathLike, overwrite: bool) -> Path:
    """``path`` if a file may be written there: no folder in its place, none of its parents a
    file, and not replacing a file unless ``overwrite``. Touches nothing."""
    path = Path(path)
    if path.is_dir():
        raise NotAFileName(f"{path}: is a folder, expected a file name")
    refuse_existing(path, overwrite)
    _parent_is_folder(path)
    return path


def _folder_target(path: str | os.PathLike, overwrite: bool, command: str) -> Path:
    """``path`` if ``command`` may write a folder there: absent, or (with ``overwrite``) a
    folder ``command`` wrote, recognised by its ``OWNER_MARK``. Touches nothing."""
    path = Path(path)
    if path.exists():
        refuse_existing(path, overwrite)
        if not path.is_dir():
            raise OutputError(f"{path}: is a file, expected a folder; --overwrite replaces only a folder")
        if owner_of(path) != command:
            raise OutputError(
                f"{path}: not a folder that inception-v2 {command} wrote; refusing to replace it "
                "(--overwrite replaces only the command's own output)"
            )
        if "files" not in _mark(path):
            raise OutputError(
                f"{path}: written by an older inception-v2 {command} that did not list its files, so "
                "--overwrite cannot tell them from yours; remove the folder yourself or use another path"
            )
    _parent_is_folder(path)
    return path


def _parent_is_folder(path: Path) -> Path:
    """The folder ``path`` would be written in (its nearest existing ancestor)."""
    missing = _missing_parents(path)
    parent = missing[-1].parent if missing else path.absolute().parent
    if not parent.is_dir():
        raise OutputError(f"{path}: {parent} is a file, not a folder")
    return parent


def _probe(path: Path) -> None:
    """The only sure test that ``path``'s folder takes files (permissions, read-only mounts,
    /proc): create one there, and remove it."""
    parent = _parent_is_folder(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".inception_v2.", dir=parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {parent} ({e.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Everything about an output file that can be checked before the work, creating nothing.

    Raises:
        OutputExists: ``path`` exists and ``overwrite`` is not set.
        NotAFileName: ``path`` is a folder.
        OutputError: a parent of ``path`` is a file, or its folder cannot be written in.
    """
    path = _file_target(path, overwrite)
    _probe(path)
    return path


def check_output_folder(path: str | os.PathLike, overwrite: bool, command: str) -> Path:
    """Check a folder output before the work: absent, or (with ``overwrite``) one that
    ``command`` wrote, recognised by its ``OWNER_MARK``. Creates nothing.

    Raises:
        OutputExists: it exists and ``overwrite`` is not set.
        OutputError: it is a file, a folder that ``command`` did not write, or cannot be written.
    """
    path = _folder_target(path, overwrite, command)
    _probe(path)
    return path


def _mark(folder: str | os.PathLike) -> dict:
    try:
        mark = json.loads((Path(folder) / OWNER_MARK).read_text())
    except (OSError, ValueError):
        return {}
    return mark if isinstance(mark, dict) else {}


def owner_of(folder: str | os.PathLike) -> str | None:
    """The command that wrote ``folder`` (its ``OWNER_MARK``), or None."""
    return _mark(folder).get("command")


def owned_files(folder: str | os.PathLike) -> list[str]:
    """The files the mark of ``folder`` lists as the command's (relative POSIX paths); empty
    for a folder without a mark or with a mark that lists none."""
    files = _mark(folder).get("files")
    return [f for f in files if isinstance(f, str)] if isinstance(files, list) else []


def mark_owner(folder: str | os.PathLike, command: str, files: list[str], **details) -> None:
    """Mark ``folder`` as ``command``'s output listing the ``files`` it wrote there (what a
    later ``--overwrite`` deletes, and nothing else)."""
    record = {"command": command, "files": files, **details}
    (Path(folder) / OWNER_MARK).write_text(json.dumps(record, indent=2))


@contextlib.contextmanager
def created_parents(path: str | os.PathLike) -> Iterator[None]:
    """Create ``path``'s missing parents; remove those still empty if the body fails.

    Raises:
        OutputError: a parent cannot be created (named, with the reason).
    """
    path = Path(path)
    missing = _missing_parents(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot create {e.filename or path.parent} ({e.strerror})") from None
    try:
        yield
    except BaseException:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path with ``path``'s suffixes; rename it onto ``path`` on success.

    On any error (Ctrl-C included, even one that a library swallowed while the file was
    written) the temporary file and the folders made for it are removed and ``path`` is left
    as it was, so a reader never sees a half-written file. A file-system error names ``path``,
    never the temporary name.

    Raises:
        OutputExists: ``path`` exists (or appeared meanwhile) and ``overwrite`` is not set.
        OutputError: ``path`` cannot be written.
    """
    path = _file_target(path, overwrite)  # its own temporary file is the write test
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".weights.h5") else path.suffix
    with created_parents(path):
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
        except OSError as e:
            raise OutputError(f"{path}: cannot be written ({e.strerror})") from None
        os.close(fd)
        os.unlink(tmp)  # writers such as Keras' save refuse or append to an existing file
        tmp = Path(tmp)
        try:
            try:
                yield tmp
            except OSError as e:
                if e.filename and Path(e.filename).name == tmp.name:
                    raise OutputError(f"{path}: cannot be written ({e.strerror})") from None
                raise
            raise_if_interrupted()
            if path.exists() and not overwrite:
                raise OutputExists(f"{path}: appeared while writing; left untouched")
            os.replace(tmp, path)
            _completed.append(path)
        finally:
            if tmp.exists():
                tmp.unlink()


def save_figure(fig, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write the matplotlib figure ``fig`` to ``path`` as PNG, atomically, and close it
    (an open figure keeps its memory until the process ends).

    Raises:
        OutputExists, OutputError: as ``atomic_path``.
    """
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, overwrite: bool, command: str, **mark) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; on success mark it as ``command``'s,
    listing the files written (the mark's ``files``), and put it in ``path``'s place in one
    rename. After a Ctrl-C, even one that a library swallowed while the folder was written,
    nothing is put there.

    Replacing an earlier output (``overwrite``) deletes exactly the files its mark lists:
    every other file in it (a user's notes) is linked into the new folder before the swap, so
    it is never moved or copied out of place, and is named in a note. One of them that has the
    name of a file just written is refused (``OutputError``) and the old folder stays as it was.

    Raises:
        OutputExists, OutputError: as ``check_output_folder``.
    """
    path = _folder_target(path, overwrite, command)  # the staging folder is the write test
    with created_parents(path):
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        except OSError as e:
            raise OutputError(f"{path}: cannot be written ({e.strerror})") from None
        try:
            yield staging
            raise_if_interrupted()
            written = folder_files(staging)
            _folder_target(path, overwrite, command)  # still ours, or still absent
            kept = _keep_users_files(path, staging, written) if path.exists() else []
            mark_owner(staging, command, files=written, **mark)
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
                os.replace(path, old / "old")
                os.replace(staging, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, path)
            _completed.append(path)
            note_kept(path, command, kept)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def note_kept(folder: str | os.PathLike, command: str, kept: list[str]) -> None:
    """Say which files of ``folder`` a command's ``--overwrite`` kept because it did not write
    them (the first ten named), on the package's logger; nothing when none were."""
    if kept:
        shown = ", ".join(kept[:10]) + (" ..." if len(kept) > 10 else "")
        log.info(
            "%s: kept %d file(s) that inception-v2 %s did not write: %s", folder, len(kept), command, shown
        )


def folder_files(folder: str | os.PathLike) -> list[str]:
    """Every file (and symbolic link) under ``folder``, as sorted relative POSIX paths."""
    folder = Path(folder)
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_symlink() or not p.is_dir()
    )


def _keep_users_files(old: Path, staging: Path, written: list[str]) -> list[str]:
    """Link every file of ``old`` that its mark does not list into ``staging`` (and recreate
    its empty folders there); the files kept.

    Raises:
        OutputError: a kept file has the name of one just written.
    """
    ours = {*owned_files(old), OWNER_MARK}
    kept = [name for name in folder_files(old) if name not in ours]
    clashes = sorted(set(kept) & {*written, OWNER_MARK})
    if clashes:
        raise OutputError(
            f"{old / clashes[0]}: a file inception-v2 did not write, under a name the new output uses; "
            "move it, then run again (nothing was replaced)"
        )
    for name in kept:
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(old / name, target, follow_symlinks=False)
        except OSError:  # a file system without hard links
            shutil.copy2(old / name, target, follow_symlinks=False)
    for folder in old.rglob("*"):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            (staging / folder.relative_to(old)).mkdir(parents=True, exist_ok=True)
    return kept
