"""ImageNet-A and -R's 200 classes, bundled from timm's wheel: as recorded, and consistent with
ImageNet's 1,000 classes read here from the bundled synset list itself."""

from __future__ import annotations

import hashlib
import re

import pytest

from inception_v2.data.labels import data_path, imagenet_subset
from inception_v2.errors import InvalidArgument


@pytest.mark.parametrize("name", ["imagenet-a", "imagenet-r"])
def test_subset_indices_are_its_synsets_positions_among_imagenets(name):
    indices, subset = imagenet_subset(name)
    imagenet = data_path("imagenet_lsvrc_2015_synsets.txt").read_text().split()  # 1,000, sorted
    assert len(imagenet) == 1000 and imagenet == sorted(imagenet)
    assert len(indices) == len(set(subset)) == 200
    assert indices == [imagenet.index(synset) for synset in subset]
    assert indices == sorted(indices)


def test_bundled_files_are_the_ones_recorded():
    """The SHA-256 of each file, as the assets README records where they came from."""
    readme = data_path("README.md").read_text()
    for stem in ("imagenet_a_synsets", "imagenet_a_indices", "imagenet_r_synsets", "imagenet_r_indices"):
        recorded = re.search(rf"`{stem}\.txt` `([0-9a-f]{{64}})`", readme)
        assert recorded, stem
        assert hashlib.sha256(data_path(f"{stem}.txt").read_bytes()).hexdigest() == recorded.group(1)


def test_an_unknown_subset_is_one_line():
    with pytest.raises(InvalidArgument, match="--dataset must be one of imagenet-a, imagenet-r"):
        imagenet_subset("imagenet-c")
