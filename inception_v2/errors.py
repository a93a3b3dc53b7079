"""What goes wrong because of what a user gave: one base class, one subclass per kind.

The command line reports an ``InputError`` in one line and exits 2; any other exception is
a bug and keeps its traceback. Each kind also derives from the built-in exception a Python
caller would expect (``ValueError``, ``FileNotFoundError``, ``ImportError``...), so
``except ValueError`` around a library call keeps working.
"""

from __future__ import annotations


class InputError(Exception):
    """A user's mistake: a bad file, an option that does not fit, an output in the way."""


class InvalidArgument(InputError, ValueError):
    """An argument or option out of range, of an unknown name, or not fitting the others."""


class DataError(InputError, ValueError):
    """Images, labels or class folders that cannot be read as asked."""


class CheckpointError(InputError, ValueError):
    """A checkpoint or weights file that cannot be read, or does not fit the model."""


class ArchiveError(InputError, ValueError):
    """A tarball that is unreadable or holds unsafe members."""


class MissingFile(InputError, FileNotFoundError):
    """A named input that does not exist."""


class OutputExists(InputError, FileExistsError):
    """An output that exists, and may not be replaced without being asked."""


class NotAFileName(InputError, IsADirectoryError):
    """An output named by a folder where a file is meant."""


class MissingExtra(InputError, ImportError):
    """An optional dependency that is not installed; the message names the extra."""

    @classmethod
    def named(cls, extra: str, needs: str) -> MissingExtra:
        """``needs`` (what is missing, and for what), then how to install ``extra``: the
        command for an installed package and the one for a clone of the repository."""
        return cls(
            f'{needs}: pip install "inception_v2[{extra}]" '
            f'(in a clone of the repository: pip install -e ".[{extra}]")'
        )


class OutputError(InputError, OSError):
    """An output that cannot be written where it was asked, or may not be replaced."""


class RunInUse(InputError, BlockingIOError):
    """A run folder that a live run of a command holds."""
