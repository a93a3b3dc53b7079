"""A small real class-folder image set shipped with the package, to try fine-tuning at once.

36 photos of ants and bees (train 12 + 12, val 6 + 6; one of the ants is a GIF) taken from
the hymenoptera set of PyTorch's transfer-learning tutorial. ``write_example_data`` copies
them out as ``DIR/train/<class>/`` and ``DIR/val/<class>/``, the layout ``finetune`` reads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from inception_v2.data.labels import data_path
from inception_v2.files import refuse_existing

EXAMPLE_SET = "hymenoptera_sample"


def example_data_path() -> Path:
    """The bundled set inside the installed package (read it, do not write into it)."""
    return data_path(EXAMPLE_SET)


def write_example_data(destination: str | os.PathLike) -> Path:
    """Copy the bundled ants/bees set to ``destination`` (which must not exist yet).

    Copied to a temporary sibling and renamed, so a failed copy leaves nothing behind.
    """
    destination = refuse_existing(destination, hint="name a new folder")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        shutil.copytree(example_data_path(), partial)
        os.replace(partial, destination)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return destination
