"""Fetching slim's official Inception V2 checkpoint once, verified, into a cache."""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from inception_v2.errors import DownloadError
from inception_v2.files import atomic_path
from inception_v2.model.architecture import PRETRAINED
from inception_v2.progress import Progress

log = logging.getLogger("inception_v2")


@dataclass(frozen=True)
class RemoteFile:
    """A file with its mirrors and the size and SHA-384 it must have."""

    filename: str
    urls: tuple[str, ...]
    size: int
    sha384: str


#: slim's release, as the pretrained record describes it.
IMAGENET_CHECKPOINT = RemoteFile(PRETRAINED.checkpoint, PRETRAINED.urls, PRETRAINED.size, PRETRAINED.sha384)


def cache_dir() -> Path:
    """``$INCEPTION_V2_CACHE``, else ``$KERAS_HOME/models/inception_v2`` (``~/.keras``)."""
    if os.environ.get("INCEPTION_V2_CACHE"):
        return Path(os.environ["INCEPTION_V2_CACHE"])
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "models" / "inception_v2"


def sha384_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha384()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, remote: RemoteFile) -> None:
    """Raise ``DownloadError`` unless ``path`` has ``remote``'s size and SHA-384."""
    size = path.stat().st_size
    if size != remote.size:
        raise DownloadError(f"{path}: {size:,} bytes, expected {remote.size:,} for {remote.filename}")
    digest = sha384_of(path)
    if digest != remote.sha384:
        raise DownloadError(f"{path}: SHA-384 {digest} does not match the recorded {remote.sha384}")


def _fetch(url: str, target: Path, remote: RemoteFile, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or remote.size)
        bar = Progress(total, unit="MB", scale=1e6)
        while chunk := response.read(1 << 20):
            out.write(chunk)
            bar.update(len(chunk))
            if bar.done > remote.size:
                raise DownloadError(f"{url}: more than the expected {remote.size:,} bytes")
        bar.close()


def fetch(remote: RemoteFile, directory: Path | None = None, timeout: float = 60.0) -> Path:
    """Return ``directory/remote.filename``, downloading it first if needed.

    A file already there (downloaded before, or placed by hand) is checked the same
    way as a download. Each mirror is tried in turn; a download is written under a
    temporary name and renamed only once its size and checksum are right.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    target = directory / remote.filename
    if target.exists():
        verify_file(target, remote)
        return target
    reasons = []
    for url in remote.urls:
        try:
            with atomic_path(target) as tmp:
                _fetch(url, tmp, remote, timeout)
                verify_file(tmp, remote)
            return target
        except (urllib.error.URLError, OSError, DownloadError) as e:
            reasons.append(str(getattr(e, "reason", None) or e))
            log.debug("%s: %s", url, reasons[-1])
    raise DownloadError(
        f"could not download {remote.filename} from its {len(remote.urls)} mirrors ({reasons[-1]}); "
        f"offline, fetch it elsewhere and place it at {target} "
        f"({remote.size:,} bytes, SHA-384 {remote.sha384})"
    )
