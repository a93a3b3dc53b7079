"""Safe extraction of checkpoint tarballs (no path traversal, no links out)."""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

from inception_v2.errors import ArchiveError, MissingFile

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")


def is_archive(path: str | os.PathLike) -> bool:
    """True for a file named like a tarball (the content is checked on extraction)."""
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _check_member(member: tarfile.TarInfo, root: Path, archive: Path) -> None:
    target = (root / member.name).resolve()
    if os.path.isabs(member.name) or not target.is_relative_to(root):
        raise ArchiveError(f"{archive}: member {member.name!r} would be written outside the target")
    if member.issym() or member.islnk():
        link = (target.parent / member.linkname).resolve()
        if os.path.isabs(member.linkname) or not link.is_relative_to(root):
            raise ArchiveError(f"{archive}: link {member.name!r} -> {member.linkname!r} points outside")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise ArchiveError(f"{archive}: member {member.name!r} is not a regular file or directory")


def safe_extract(archive: str | os.PathLike, destination: str | os.PathLike) -> list[str]:
    """Extract ``archive`` into ``destination``; refuse any member that escapes it.

    Every member is checked before anything is written: tarfile's ``data`` filter alone checks
    each member as it extracts it, so a bad member late in an archive would leave the earlier
    ones written. The filter is then applied as a second guard where Python has it (3.11.4
    and later; this package supports 3.11.0 on). Returns the extracted member names.
    """
    archive, root = Path(archive), Path(destination).resolve()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, root, archive)
            guard = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(root, members=members, **guard)
    except tarfile.TarError as e:
        lines = str(e).splitlines()  # tarfile lists each method it tried: the last is tar's own
        reason = lines[-1].strip().removeprefix("- ").removesuffix(")") if len(lines) > 1 else str(e)
        raise ArchiveError(f"{archive}: not a readable tar archive ({reason})") from None
    except (EOFError, OSError, zlib.error) as e:
        if isinstance(e, FileNotFoundError) and not archive.exists():
            raise MissingFile(f"{archive}: no such file") from None
        raise ArchiveError(f"{archive}: truncated or corrupt archive ({e})") from None
    return [m.name for m in members]
