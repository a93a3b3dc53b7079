"""predict --runner beam: Apache Beam's RunInference over an exported model, on the DirectRunner
with two worker processes."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from conftest import one_error_line, run_in_process

from inception_v2.data.labels import data_path

pytestmark = pytest.mark.slow  # exports a model and runs a pipeline: not in the quick subset


@pytest.fixture(scope="module")
def saved_model(live_thin, tmp_path_factory):
    from inception_v2.cli import main

    out = tmp_path_factory.mktemp("beam") / "served"
    assert main(["export", "--weights", str(live_thin), "--out", str(out), "--no-verify", "--quiet"]) == 0
    return out


def test_beam_writes_predicts_top5_for_each_image_once(saved_model, tmp_path, capsys):
    images = tmp_path / "images"
    shutil.copytree(data_path("imagenet_val_sample"), images)
    first = sorted(images.iterdir())[0]
    (images / "broken.JPEG").write_bytes(first.read_bytes()[:3000])  # a truncated upload
    out = tmp_path / "predictions"
    done = run_in_process(
        capsys, "predict", images, "--weights", saved_model, "--runner", "beam", "--out", out
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "direct_num_workers=2" in done.stderr and "multi_processing" in done.stderr
    shards = sorted(out.glob("predictions-*.jsonl"))
    assert shards, sorted(p.name for p in out.iterdir())
    lines = [json.loads(line) for shard in shards for line in shard.read_text().splitlines()]
    by_image = {line["image"]: line for line in lines}
    assert len(lines) == len(by_image) == 101, "each image once"
    assert by_image.pop(str(images / "broken.JPEG").replace("\\", "/")) == {
        "image": str(images / "broken.JPEG"),
        "error": "cannot be decoded as an image",
    }
    # predict's own top 5 (the local runner, the same exported model), image by image.
    done = run_in_process(capsys, "predict", images, "--weights", saved_model, "--json", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    local = {entry["image"]: entry["top"] for entry in json.loads(done.stdout)}
    assert set(local) == set(by_image)
    assert len({top[0]["index"] for top in local.values()}) >= 10, "predictions vary"
    for image, top in local.items():
        theirs = by_image[image]["top"]
        assert [(t["index"], t["synset"], t["name"]) for t in theirs] == [
            (t["index"], t["synset"], t["name"]) for t in top
        ], image
        for ours, their in zip(top, theirs, strict=True):
            assert abs(ours["probability"] - their["probability"]) <= 1e-6, image


def test_beam_misuse_is_one_line(saved_model, live_thin, tmp_path, capsys, monkeypatch):
    images = data_path("imagenet_val_sample")
    for args, fragments in (
        (["--weights", saved_model, "--runner", "beam"], ["give --out DIR"]),
        (["--weights", live_thin, "--runner", "beam", "--out", tmp_path / "o"], ["runs an exported model"]),
        (
            ["--weights", saved_model, "--out", tmp_path / "o"],
            ["--out and --pipeline-options are for --runner beam"],
        ),
    ):
        one_error_line(run_in_process(capsys, "predict", images, *args), *fragments)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "apache_beam" else find_spec(name, *a)
    )
    done = run_in_process(
        capsys, "predict", images, "--weights", saved_model, "--runner", "beam", "--out", tmp_path / "o"
    )
    one_error_line(done, "--runner beam needs Apache Beam", 'inception_v2[beam]"')
    assert list(tmp_path.iterdir()) == []
