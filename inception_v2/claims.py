"""The paths one run of a command touches, claimed before any work: one rule for all of them.

A command names what it reads (files and folders: weights, data, images, a checkpoint) and
what it writes (files, and folders it owns). Before anything heavy is loaded, ``Claims.check``
refuses, in one line:

- an output that is one of the inputs, or lies inside an input folder (``--report`` onto the
  weights being evaluated, ``--plot`` into the photos, ``finetune --out`` inside ``--data``);
- an input that lies inside an output (``--overwrite`` of that output would delete it);
- two outputs on one path, or one inside another;
- an output that may not be written where it is named (``files.check_writable`` for a file,
  ``files.check_output_folder`` for a folder the command owns: absent, or one it wrote).

Paths are compared resolved (symbolic links, ``..``, ``data`` and ``data/`` alike) and, where
both exist, as files (a hard link to an input is that input).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from inception_v2.errors import OutputError
from inception_v2.files import check_output_folder, check_writable

#: What an output is, for the checks of its own place: a file; a folder the command writes
#: whole (``files.atomic_folder``); any other (a run folder, or a file or folder by its
#: extension: the command checks its place itself, the rule between paths still applies).
FILE, FOLDER, OTHER = "file", "folder", "other"


@dataclass(frozen=True)
class Claim:
    """One path of a command run: the option that named it, as given, and resolved."""

    option: str
    given: str
    resolved: Path

    def shown(self) -> str:
        return f"{self.option} {self.given}"


def _resolved(path: str | os.PathLike) -> Path:
    """``path`` absolute with every symbolic link and ``..`` resolved (also where its last
    parts do not exist yet); a glob pattern stands for the folder its matches are in."""
    text = os.fspath(path)
    if glob.has_magic(text):
        text = os.path.dirname(text) or "."
    return Path(os.path.realpath(text))


def _same_or_inside(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist
        return False


@dataclass
class Claims:
    """The inputs and outputs of one run of ``command``.

    Args:
        command: the command's name (``eval``, ``finetune``...), for messages and folder marks.
        overwrite: the run may replace its own earlier outputs (``--overwrite``).
    """

    command: str
    overwrite: bool = False
    inputs: list[Claim] = field(default_factory=list)
    outputs: list[tuple[Claim, str, str]] = field(default_factory=list)

    def reads(self, option: str, paths: str | os.PathLike | Iterable | None) -> Claims:
        """Claim ``paths`` (one, or several) as inputs; None and names that are no path on
        disk (``imagenet``) are left out."""
        for path in [paths] if isinstance(paths, str | os.PathLike) else paths or ():
            if path is None or (not glob.has_magic(os.fspath(path)) and not os.path.lexists(path)):
                continue
            self.inputs.append(Claim(option, os.fspath(path), _resolved(path)))
        return self

    def writes(
        self, option: str, path: str | os.PathLike | None, kind: str = FILE, owner: str | None = None
    ) -> Claims:
        """Claim ``path`` as an output of ``kind`` (``FILE``, ``FOLDER`` or ``OTHER``); a
        ``FOLDER`` may replace only one that ``owner`` (default: this command) wrote."""
        if path is not None:
            claim = Claim(option, os.fspath(path), _resolved(path))
            self.outputs.append((claim, kind, owner or self.command))
        return self

    def check(self) -> None:
        """Refuse what this run may not do, before any work; touches nothing.

        Raises:
            OutputError: an output meets an input or another output.
            OutputExists, NotAFileName, OutputError: an output's own place refuses it
                (``files.check_writable``, ``files.check_output_folder``).
        """
        for i, (output, *_) in enumerate(self.outputs):
            for other, *_ in self.outputs[:i]:
                if _same_or_inside(output.resolved, other.resolved) or _same_or_inside(
                    other.resolved, output.resolved
                ):
                    raise OutputError(
                        f"{output.shown()}: the same place as {other.shown()}; give each output its own path"
                    )
            for source in self.inputs:
                if output.resolved == source.resolved or _same_file(output.resolved, source.resolved):
                    raise OutputError(
                        f"{output.shown()}: is the input {source.shown()}; an output never replaces an input"
                    )
                if source.resolved in output.resolved.parents:
                    raise OutputError(
                        f"{output.shown()}: inside the input {source.shown()}; "
                        "an output is never written into what the command reads"
                    )
                if output.resolved in source.resolved.parents:
                    raise OutputError(
                        f"{source.shown()}: inside the output {output.shown()}; "
                        "an input may not live where the command writes"
                    )
        for output, kind, owner in self.outputs:
            if kind == FILE:
                check_writable(output.given, self.overwrite)
            elif kind == FOLDER:
                check_output_folder(output.given, self.overwrite, owner)
