"""The repository stands alone: nothing reads the developers' shared folder, bundled data is there."""

from __future__ import annotations

import subprocess
from pathlib import Path

from inception_v2.cli import main
from inception_v2.example_data import example_data_path
from inception_v2.train_data import scan_class_folders

ROOT = Path(__file__).resolve().parents[1]
#: Ways a file could reach the developers' data folder beside the checkout.
OUTSIDE = ("../" + "shared", '/ "' + 'shared"')  # spelled in pieces so this file does not match


def test_no_project_file_reads_the_shared_folder():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(tracked) > 50, "not a git checkout?"
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix.lower() in (".jpeg", ".jpg", ".gif", ".npz", ".png") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        offenders += [f"{name}: {pattern!r}" for pattern in OUTSIDE if pattern in text]
    assert offenders == []


def test_the_guard_would_see_a_mention(tmp_path):
    """The scan above can fail: the same check on a file that mentions the folder."""
    sample = tmp_path / "README.md"
    sample.write_text("inception-v2 finetune --data ../" + "shared/data/hymenoptera\n")
    assert any(pattern in sample.read_text() for pattern in OUTSIDE)


def test_example_data_is_bundled_and_written_out(tmp_path, capsys):
    bundled = example_data_path()
    train, val = scan_class_folders(bundled / "train"), scan_class_folders(bundled / "val")
    assert (train.class_names, len(train.files), train.unreadable) == (["ants", "bees"], 24, [])
    assert (val.class_names, len(val.files)) == (["ants", "bees"], 12)
    assert main(["example-data", str(tmp_path / "ants_bees")]) == 0
    written = sorted(p.relative_to(tmp_path / "ants_bees") for p in (tmp_path / "ants_bees").rglob("*.*"))
    assert written == sorted(p.relative_to(bundled) for p in bundled.rglob("*.*"))
    assert main(["example-data", str(tmp_path / "ants_bees")]) == 2  # never into an existing folder
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["ants_bees"]  # no partial copy left behind
