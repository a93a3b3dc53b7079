"""The repository stands alone: nothing reads the developers' shared folder, bundled data is there."""

from __future__ import annotations

import os
from pathlib import Path

from inception_v2.cli import main
from inception_v2.data.example_data import example_data_path
from inception_v2.data.training import scan_class_folders

ROOT = Path(__file__).resolve().parents[1]
#: Ways a file could reach the developers' data folder beside the checkout.
OUTSIDE = ("../" + "shared", '/ "' + 'shared"')  # spelled in pieces so this file does not match


#: Folders a checkout or an unpacked sdist may hold that are not the project's (tools, builds).
NOT_THE_PROJECT = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist"}


def project_text_files(root: Path) -> list[Path]:
    """Every text file under ``root`` outside tool and build folders (no git needed)."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in NOT_THE_PROJECT and not d.endswith(".egg-info")]
        for name in names:
            path = Path(folder, name)
            if b"\0" not in path.read_bytes()[:4096]:
                found.append(path)
    return found


def mentions_of_the_shared_folder(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root)}: {pattern!r}"
        for path in project_text_files(root)
        for pattern in OUTSIDE
        if pattern in path.read_text(errors="replace")
    ]


def test_no_project_file_reads_the_shared_folder():
    files = project_text_files(ROOT)
    assert len(files) > 50 and ROOT / "inception_v2" / "model" / "network.py" in files
    assert mentions_of_the_shared_folder(ROOT) == []


def test_the_guard_would_see_a_mention(tmp_path):
    """The scan above can fail: it finds mentions in a project-like tree, and skips tool folders."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text(
        "inception-v2 finetune --data ../" + "shared/data/hymenoptera\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text('root = Path(__file__).parents[2] / "' + 'shared"\n')
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "x.py").write_text("../" + "shared\n")  # not the project's
    assert sorted(m.split(":")[0] for m in mentions_of_the_shared_folder(tmp_path)) == [
        str(Path("scripts", "run.sh")),
        str(Path("tests", "t.py")),
    ]


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
