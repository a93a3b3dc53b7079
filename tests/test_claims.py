"""Where outputs meet inputs: every command, every output option, against an input, an input's
folder, another output of the same run and a folder the command did not write. Each case is
refused in one line naming the option, exit 2, before any work, and every byte that was there
is there after (``--overwrite`` given: the harshest case). The commands run in this process:
the refusals come before anything heavy is loaded. What ``--overwrite`` keeps of a user's
files inside the command's own folder is in test_nothing_lost.py and test_finetune.py."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import one_error_line, run_in_process

from inception_v2.claims import FILE, FOLDER, OTHER, Claims
from inception_v2.errors import OutputError


@dataclass(frozen=True)
class Command:
    """A command line of fake inputs (``{name}`` is an input's path) and its output options."""

    argv: tuple[str, ...]
    inputs: dict[str, str]  # option -> "file" | "folder"
    outputs: dict[str, str]  # option -> claims kind
    extra: tuple[str, ...] = ()  # options that an output option needs beside it


COMMANDS = {
    "convert": Command(("convert", "{SRC}", "{DST}", "--overwrite"), {"SRC": "file"}, {"DST": FILE}),
    "convert --preset": Command(
        ("convert", "{SRC}", "{DST}", "--preset", "--overwrite"), {"SRC": "folder"}, {"DST": FOLDER}
    ),
    "eval": Command(
        ("eval", "--weights", "{--weights}", "--data", "{--data}", "--ground-truth", "{--ground-truth}",
         "--real-labels", "{--real-labels}", "--overwrite", "--mistakes", "2"),
        {"--weights": "file", "--data": "folder", "--ground-truth": "file", "--real-labels": "file"},
        {"--report": FILE, "--predictions-csv": FILE, "--plot": FILE, "--plot-calibration": FILE,
         "--out-mistakes": FILE},
    ),  # fmt: skip
    "eval int8": Command(
        ("eval", "--weights", "{--weights}", "--precision", "int8", "--calibration", "{--calibration}",
         "--overwrite"),
        {"--weights": "file", "--calibration": "folder"},
        {"--report": FILE},
    ),  # fmt: skip
    "finetune": Command(
        ("finetune", "--data", "{--data}", "--weights", "{--weights}", "--overwrite"),
        {"--data": "folder", "--weights": "file"},
        {"--out": OTHER, "--preset": FOLDER},
        extra=("--out", "{unused_run}"),
    ),
    "bn-study": Command(
        ("bn-study", "--data", "{--data}", "--overwrite"), {"--data": "folder"}, {"--out": OTHER}
    ),
    "export": Command(
        ("export", "--weights", "{--weights}", "--overwrite"), {"--weights": "file"}, {"--out": OTHER}
    ),
    "bench": Command(
        ("bench", "--int8-model", "{--int8-model}", "--overwrite"),
        {"--int8-model": "folder"},
        {"--report": FILE},
    ),
    "predict": Command(("predict", "{IMAGES}", "--weights", "{--weights}"), {"IMAGES": "folder"}, {}),
    "predict --runner beam": Command(
        ("predict", "{IMAGES}", "--weights", "{--weights}", "--runner", "beam", "--overwrite"),
        {"IMAGES": "folder", "--weights": "folder"},
        {"--out": FOLDER},
    ),
    "quantize": Command(
        ("quantize", "--weights", "{--weights}", "--calibration", "{--calibration}", "--overwrite"),
        {"--weights": "file", "--calibration": "folder"},
        {"--out": FOLDER},
    ),
    "explain": Command(
        ("explain", "{IMAGES}", "--weights", "{--weights}", "--overwrite"),
        {"IMAGES": "folder", "--weights": "file"},
        {"--out": FOLDER},
    ),
    "example-data": Command(("example-data", "{DST}"), {}, {"DST": OTHER}),
    "make-test-checkpoint": Command(("make-test-checkpoint", "{DST}"), {}, {"DST": OTHER}),
}  # fmt: skip


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``root``, with the files' bytes."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


def lay_out(root: Path, command: Command) -> dict[str, Path]:
    """The command's inputs made real under ``root`` (a folder holds a file, so "inside" exists)."""
    paths = {}
    for option, kind in command.inputs.items():
        path = root / ("in_" + option.strip("-").replace("-", "_"))
        if kind == "folder":
            (path / "a").mkdir(parents=True)
            (path / "a" / "x.jpg").write_bytes(b"\xff\xd8\xff a user's photo")
        else:
            path.write_bytes(f"the bytes of {option}".encode())
        paths[option] = path
    return paths


def argv(command: Command, paths: dict[str, Path], outputs: dict[str, Path], root: Path) -> list[str]:
    """The command line with its inputs and the given outputs filled in."""
    fill = {**paths, **outputs, "unused_run": root / "run"}
    line = []
    for word in command.argv + (command.extra if not set(outputs) & {"--out"} else ()):
        key = word[1:-1] if word.startswith("{") else None
        line.append(str(fill[key]) if key in fill else word)
    positional = {"SRC", "DST", "IMAGES"}
    for option, path in outputs.items():
        if option not in positional:
            line += [option, str(path)]
    return line


def cases():
    """(command, output option, what it meets, the fragment the refusal must hold)."""
    for name, command in COMMANDS.items():
        for output, kind in command.outputs.items():
            for source, source_kind in command.inputs.items():
                yield name, output, ("input", source), "is the input"
                if source_kind == "folder":
                    yield name, output, ("inside", source), "inside the input"
            for other in command.outputs:
                if other != output and output not in ("SRC", "DST") and other not in ("SRC", "DST"):
                    yield name, output, ("output", other), "the same place as"
            if kind in (FILE, FOLDER):
                yield name, output, ("foreign folder", None), ""


@pytest.mark.parametrize("name, output, meets, fragment", list(cases()), ids=lambda v: str(v))
def test_an_output_that_meets_what_it_must_not_is_refused_and_nothing_changes(
    name, output, meets, fragment, tmp_path, capsys
):
    command = COMMANDS[name]
    paths = lay_out(tmp_path, command)
    what, other = meets
    outputs = {o: tmp_path / f"out_{o.strip('-')}" for o in command.outputs if o == output or o in ("DST",)}
    if what == "input":
        outputs[output] = paths[other]
    elif what == "inside":
        outputs[output] = paths[other] / "a" / "new_output"
    elif what == "output":
        outputs[other] = outputs[output] = tmp_path / "shared_output"
    else:  # a folder the command did not write, holding a user's file
        outputs[output] = tmp_path / "users_folder"
        (tmp_path / "users_folder").mkdir()
        (tmp_path / "users_folder" / "NOTES.md").write_text("mine")
        fragment = "is a folder, expected a file" if command.outputs[output] == FILE else "not a folder that"
    before = tree(tmp_path)
    line = one_error_line(run_in_process(capsys, *argv(command, paths, outputs, tmp_path)), fragment)
    assert output.lstrip("-") in line or what == "output" or "NOTES" in line or "users_folder" in line
    assert tree(tmp_path) == before, "every byte that was there is there, nothing was added"


def test_every_command_claims_its_paths():
    """Each command of the parser declares what it reads and writes, and the table above has
    a row for it (a new command or output option without one fails here)."""
    from inception_v2.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    tabled = {name.split()[0] for name in COMMANDS}
    for name, sub in commands.items():
        assert callable(sub.get_default("claims")), name
        assert name in tabled, f"{name}: add its outputs to COMMANDS"
    outputs = {"--out", "--report", "--predictions-csv", "--plot", "--plot-calibration", "--out-mistakes"}
    outputs |= {"--preset"}
    for name, sub in commands.items():
        declared = {o for c in COMMANDS.values() if c.argv[0] == name for o in c.outputs}
        offered = {
            a.option_strings[0] for a in sub._actions if a.option_strings and a.option_strings[0] in outputs
        }
        offered -= {"--preset"} if name == "convert" else set()  # convert's --preset is a switch
        assert offered <= declared, (name, offered - declared)


# ----------------------------------------------------------------------------- the rule itself


def test_paths_compare_resolved_and_as_files(tmp_path):
    """A symbolic link, ``..``, a trailing slash and a hard link are the path they lead to."""
    data = tmp_path / "data"
    (data / "ants").mkdir(parents=True)
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"w")
    (tmp_path / "link").symlink_to(data)
    os.link(weights, tmp_path / "hard.h5")
    for output, message in (
        (tmp_path / "link" / "ants" / "r.json", "inside the input --data"),
        (tmp_path / "data" / ".." / "w.weights.h5", "is the input --weights"),
        (tmp_path / "hard.h5", "is the input --weights"),
        (str(data) + "/", "is the input --data"),
    ):
        claims = Claims("eval", overwrite=True).reads("--data", str(data) + "/").reads("--weights", weights)
        with pytest.raises(OutputError, match=message):
            claims.writes("--report", output, OTHER).check()
    fine = Claims("eval").reads("--data", data).reads("--weights", "imagenet")
    fine.writes("--report", tmp_path / "report.json").writes("--plot", tmp_path / "plot.png").check()


def test_an_input_inside_an_output_folder_is_refused(tmp_path):
    """``--overwrite`` of the output folder would delete the input in it."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes(b"model")
    claims = Claims("finetune", overwrite=True).reads("--weights", run / "best.keras")
    with pytest.raises(OutputError, match="--weights .*: inside the output --out"):
        claims.writes("--out", run, OTHER).check()
