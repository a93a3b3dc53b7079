"""weights="imagenet": download from mirrors on 127.0.0.1, verify, extract, convert once."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from inception_v2 import InceptionV2
from inception_v2.errors import DownloadError
from inception_v2.weights import download
from inception_v2.weights.download import RemoteFile, fetch

ROOT = Path(__file__).resolve().parents[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A static HTTP server on 127.0.0.1 serving a folder; stopped after the module."""
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def release(server, slim_checkpoints):
    """A tarball shaped like slim's release (inception_v2.ckpt, V1), served locally."""
    root, url = server
    tarball = root / "inception_v2_2016_08_28.tar.gz"
    with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:  # random floats: gzip gains nothing
        tar.add(slim_checkpoints.path(version="V1"), arcname="inception_v2.ckpt")
    data = tarball.read_bytes()
    return RemoteFile(
        filename=tarball.name,
        urls=(f"{url}/missing/{tarball.name}", f"{url}/{tarball.name}"),  # first mirror 404s
        size=len(data),
        sha384=hashlib.sha384(data).hexdigest(),
    )


def _refused_url() -> str:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.tar.gz"


def test_imagenet_weights_download_convert_and_cache(release, slim_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("INCEPTION_V2_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "IMAGENET_CHECKPOINT", release)
    model = InceptionV2(weights="imagenet", classifier_activation=None)
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert cached == ["inception_v2_2016_08_28.tar.gz", "inception_v2_imagenet.weights.h5"]
    expected = slim_checkpoints.variables()["InceptionV2/Mixed_5c/Branch_0/Conv2d_0a_1x1/weights"]
    np.testing.assert_array_equal(model.get_layer("Mixed_5c__Branch_0__Conv2d_0a_1x1").kernel, expected)
    # Second use: no network needed (all mirrors now refuse), the cache serves it.
    monkeypatch.setattr(download, "IMAGENET_CHECKPOINT", dataclasses.replace(release, urls=(_refused_url(),)))
    headless = InceptionV2(weights="imagenet", include_top=False)
    assert headless.output.shape[-1] == 1024


@pytest.mark.slow
def test_imagenet_preset_is_the_release_converted_once(release, slim_checkpoints, tmp_path, monkeypatch):
    """``from_preset("inception_v2_imagenet")``: the same download, check and cache as
    ``weights="imagenet"``; then KerasHub's own base class finds the name too."""
    import keras_hub

    from inception_v2.hub.models import InceptionV2ImageClassifier

    monkeypatch.setenv("INCEPTION_V2_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "IMAGENET_CHECKPOINT", release)
    classifier = InceptionV2ImageClassifier.from_preset("inception_v2_imagenet")
    preset = tmp_path / "cache" / "inception_v2_imagenet"
    card = (preset / "README.md").read_text()
    assert "slim official checkpoint inception_v2_2016_08_28.tar.gz" in card and "73.9 % top-1" in card
    assert release.sha384 in card
    expected = slim_checkpoints.variables()["InceptionV2/Mixed_5c/Branch_0/Conv2d_0a_1x1/weights"]
    kernel = classifier.backbone.get_layer("Mixed_5c__Branch_0__Conv2d_0a_1x1").kernel
    np.testing.assert_array_equal(kernel, expected)
    monkeypatch.setattr(download, "IMAGENET_CHECKPOINT", dataclasses.replace(release, urls=(_refused_url(),)))
    again = keras_hub.models.ImageClassifier.from_preset("inception_v2_imagenet")  # offline: the cache
    assert type(again) is InceptionV2ImageClassifier and again.num_classes == 1001


def test_kerashubs_own_from_preset_says_where_to_put_the_release_offline(release, tmp_path, monkeypatch):
    """KerasHub's base class, offline, before the first use: the download line (the file's
    place, size and SHA-384), not KerasHub's "Unknown preset identifier"; nothing cached."""
    import keras_hub

    import inception_v2.hub.models  # noqa: F401 (registers the preset name)

    monkeypatch.setenv("INCEPTION_V2_CACHE", str(tmp_path / "cache"))
    offline = dataclasses.replace(release, urls=(_refused_url(),))
    monkeypatch.setattr(download, "IMAGENET_CHECKPOINT", offline)
    with pytest.raises(DownloadError) as info:
        keras_hub.models.ImageClassifier.from_preset("inception_v2_imagenet")
    message = str(info.value)
    assert str(tmp_path / "cache" / release.filename) in message and release.sha384 in message
    assert f"{release.size:,}" in message or str(release.size) in message
    assert not (tmp_path / "cache" / "inception_v2_imagenet").exists()


def test_checksum_mismatch_leaves_nothing(release, tmp_path):
    wrong = dataclasses.replace(release, sha384="0" * 96)
    with pytest.raises(DownloadError, match="SHA-384"):
        fetch(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch(release, tmp_path):
    with pytest.raises(DownloadError, match="bytes"):
        fetch(dataclasses.replace(release, size=release.size - 1), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_offline_error_says_where_to_put_the_file(release, tmp_path):
    offline = dataclasses.replace(release, urls=(_refused_url(),))
    with pytest.raises(DownloadError) as info:
        fetch(offline, tmp_path)
    message = str(info.value)
    assert str(tmp_path / release.filename) in message and release.sha384 in message
    assert "\n" not in message, "one line"
    assert list(tmp_path.iterdir()) == []


def test_hand_placed_tarball_is_checked(release, server, tmp_path):
    root, _ = server
    offline = dataclasses.replace(release, urls=(_refused_url(),))
    placed = tmp_path / release.filename
    placed.write_bytes((root / release.filename).read_bytes())
    assert fetch(offline, tmp_path) == placed  # used without any network
    placed.write_bytes(b"tampered" + placed.read_bytes()[8:])
    with pytest.raises(DownloadError, match="SHA-384"):
        fetch(offline, tmp_path)


def test_manifest_matches_code():
    manifest = json.loads((ROOT / "checkpoints" / "manifest.json").read_text())
    entry = manifest[download.IMAGENET_CHECKPOINT.filename]
    assert entry["size"] == download.IMAGENET_CHECKPOINT.size == 41_577_079
    assert entry["sha384"] == download.IMAGENET_CHECKPOINT.sha384
    assert tuple(entry["urls"]) == download.IMAGENET_CHECKPOINT.urls
