"""A run folder: where one resumable run of a command (``finetune``, ``bn-study``) keeps its
settings, outputs and state, and what keeps two runs and a user's own files apart.

- The settings record (``run.json`` / ``settings.json``) marks the folder as the command's own.
  A rerun with the same settings resumes; with others it is refused, naming each difference.
  Paths in the settings are compared resolved (``data`` and ``data/`` are the same folder).
- ``--overwrite`` starts afresh whatever state the folder is in, deleting only the files the
  command writes: its own names at the top, and inside its sub-folders (``logs/``,
  ``backup/``, ``models/``) the files of the names it gives them; a user's file anywhere in
  the folder is kept and named. A folder without the record that holds any of the command's
  names (a user's own ``history.csv``) is refused instead. (The names are the command's table,
  not a list written as the run goes: a run killed between writing a file and listing it
  would otherwise leave a backup that a fresh start resumes.)
- While a run is live it holds an exclusive lock on ``OUT/.lock`` (``flock``): a second run on
  the same folder is refused in one line naming the live one. The kernel releases the lock
  when its process ends, however it ends, so a run killed with ``kill -9`` leaves no lock
  behind that could block the rerun that resumes it.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from inception_v2.errors import InvalidArgument, OutputError, RunInUse
from inception_v2.files import created_parents, note_kept

try:
    import fcntl
except ImportError:  # Windows: runs are not locked there
    fcntl = None

LOCK_FILE = ".lock"


def normalise_path(value: str | None) -> str | None:
    """``value`` as an absolute, resolved path when it names an existing file or folder
    (so that ``data``, ``data/`` and ``./data`` compare equal); otherwise as given."""
    if value is None or not os.path.exists(value):
        return value
    return os.path.realpath(value)


@dataclass(frozen=True)
class RunFolder:
    """The folder ``path`` as ``command`` uses it.

    Args:
        path: the folder (``--out``).
        command: the command's name, for messages.
        record: the settings file that marks the folder as the command's own.
        files: the names the command writes at the top of the folder.
        folders: ``(sub-folder, patterns)``: the command's sub-folders and the names (glob
            patterns, ``**`` for any depth) of the files it writes in each.
    """

    path: Path
    command: str
    record: str
    files: tuple[str, ...]
    folders: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def record_path(self) -> Path:
        return self.path / self.record

    def recorded(self) -> dict | None:
        """The recorded settings, or None for a folder that holds no run."""
        if not self.record_path.exists():
            return None
        try:
            recorded = json.loads(self.record_path.read_text())
        except (OSError, ValueError) as e:
            raise OutputError(
                f"{self.record_path}: unreadable ({e}); use --overwrite to start afresh"
            ) from None
        if not isinstance(recorded, dict):
            raise OutputError(f"{self.record_path}: not a settings record; use --overwrite to start afresh")
        return recorded

    def check(self, settings: dict, overwrite: bool, may_change: Iterable[str] = ()) -> str:
        """Decide what a run with ``settings`` does here, touching nothing.

        Args:
            settings: the run's settings as recorded (paths compared resolved).
            overwrite: start afresh whatever the folder holds.
            may_change: settings a resumed run may change (``epochs``: a run counts on).

        Returns:
            ``"new"`` (no run here), ``"resume"`` (the same settings) or ``"afresh"``
            (``overwrite`` with a run here: ``clear`` it first).

        Raises:
            OutputError: ``path`` is a file, or holds files of the command's names that no
                run of it wrote.
            InvalidArgument: a run with other settings is here and ``overwrite`` is not set.
        """
        self._refuse_a_file()
        recorded = self.recorded() if not overwrite else None
        if recorded is None:
            if self.record_path.exists():  # --overwrite: the folder is the command's own
                return "afresh"
            strangers = [n for n in (*self.files, *dict(self.folders)) if (self.path / n).exists()]
            if strangers:
                raise OutputError(
                    f"{self.path}: holds {', '.join(strangers)} but no {self.record} "
                    f"(not a run of inception-v2 {self.command}); use another --out"
                )
            return "new"
        changed = {
            k: (recorded.get(k), v)
            for k, v in settings.items()
            if k not in may_change and _comparable(k, recorded.get(k)) != _comparable(k, v)
        }
        if changed:
            shown = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise InvalidArgument(
                f"{self.path}: holds a {self.command} run with other settings ({shown}); "
                "use a new --out, or --overwrite to start afresh"
            )
        return "resume"

    def _refuse_a_file(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: is a file, expected a folder")

    def clear(self) -> list[str]:
        """Delete the files the command writes here, and nothing else (its sub-folders go
        only once empty); the other files found in its sub-folders, which were kept."""
        for name in self.files:
            (self.path / name).unlink(missing_ok=True)
            for leftover in self.path.glob(f".{glob.escape(name)}.*.tmp*"):  # a write cut short
                leftover.unlink(missing_ok=True)
        kept = []
        for name, patterns in self.folders:
            folder = self.path / name
            if not folder.is_dir():
                continue
            ours = {p for pattern in patterns for p in folder.glob(pattern) if p.is_file()}
            for path in ours:
                path.unlink()
            kept += [str(p.relative_to(self.path)) for p in sorted(folder.rglob("*")) if not p.is_dir()]
            for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    sub.rmdir()  # only if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        note_kept(self.path, self.command, kept)
        return kept

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock for the body, creating the folder (and removing it again,
        if the body fails and leaves it empty: a failed start leaves no trace).

        Raises:
            RunInUse: another live run holds it (its process id, host and start named).
            OutputError: ``path`` is a file.
        """
        self._refuse_a_file()
        path = self.path / LOCK_FILE
        with created_parents(path):
            if fcntl is None:
                yield
            else:
                with _locked(path, self.path):
                    yield


@contextlib.contextmanager
def _locked(path: Path, folder: Path) -> Iterator[None]:
    """Hold ``path``'s exclusive lock, with who holds it written inside."""
    fd = _acquire(path)
    if fd is None:
        raise RunInUse(
            f"{folder}: in use by a live run ({_holder(path)}); wait for it to end or use another --out"
        )
    try:
        who = f"pid {os.getpid()} on {socket.gethostname()}, started {_now()}"
        os.ftruncate(fd, 0)
        os.write(fd, who.encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before unlocking: a waiting opener then finds its inode gone
        os.close(fd)


def _comparable(key: str, value):
    return normalise_path(value) if key in ("data", "weights") and isinstance(value, str) else value


def _acquire(path: Path) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None if another holds it.

    The holder deletes the file before it lets go, so a lock taken on a file that is no longer
    at ``path`` is a lock on nothing: try again on the new one."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "starting"
    except OSError:
        return "starting"


def _now() -> str:
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
