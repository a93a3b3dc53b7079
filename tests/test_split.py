"""The one per-class split, shared by fine-tuning and the BN study."""

from __future__ import annotations

import numpy as np
import pytest

from inception_v2.data.training import ClassFolders, held_out, split
from inception_v2.errors import InvalidArgument


def test_held_out_per_class_reproducible_and_never_empty():
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    val = held_out(labels, 0.2, seed=3)
    assert [int(val[labels == c].sum()) for c in (0, 1, 2)] == [2, 1, 1]  # at least one per class
    np.testing.assert_array_equal(val, held_out(labels, 0.2, seed=3))
    assert any((held_out(labels, 0.2, seed=s) != val).any() for s in range(4, 10)), "the seed matters"
    with pytest.raises(InvalidArgument, match="in \\(0, 1\\)"):
        held_out(labels, 1.0)


def test_fine_tuning_splits_folders_by_the_same_rule():
    labels = [0] * 6 + [1] * 4
    data = ClassFolders("root", ["a", "b"], files=[f"f{i}" for i in range(10)], labels=labels)
    train, val = split(data, 0.25, seed=1)
    expected = held_out(labels, 0.25, seed=1)
    assert val.files == [f for f, v in zip(data.files, expected, strict=True) if v]
    assert sorted(train.files + val.files) == sorted(data.files)
