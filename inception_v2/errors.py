"""What goes wrong without being a bug: one base class per family, one subclass per kind.

The command line reports an ``InputError`` (a user's mistake) in one line and exits 2, and a
``Failure`` (no mistake and no bug: the network is away, two implementations disagree) in one
line with its own exit code; any other exception is a bug and keeps its traceback. Each kind
also derives from the built-in exception a Python caller would expect (``ValueError``,
``FileNotFoundError``, ``ImportError``...), so ``except ValueError`` around a library call
keeps working.
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


class Failure(Exception):
    """What stops a command through no mistake in what was given and no bug: the command line
    prints it in one line and exits with ``exit_code``."""

    exit_code = 1


class DownloadError(Failure, RuntimeError):
    """No mirror gave a file with the recorded size and checksum (offline, say): exit 3."""

    exit_code = 3


class ExportMismatch(Failure, RuntimeError):
    """An exported file, on its own runtime, computes other probabilities than the model it was
    exported from, beyond the tolerance: nothing is written, exit 1."""

    exit_code = 1


class VerificationError(Failure, RuntimeError):
    """The Keras model and slim's graph disagree beyond the tolerance: exit 1.

    Attributes:
        conversion: what was converted, with the differences measured (``convert.Conversion``).
    """

    exit_code = 1

    def __init__(self, conversion, worst: dict[str, float], tolerance: float):
        self.conversion = conversion
        shown = ", ".join(f"{k} {v:.3g}" for k, v in worst.items())
        super().__init__(f"Keras and slim differ beyond {tolerance:g} x max(1, max |slim|): {shown}")
