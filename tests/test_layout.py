"""The package's shape, as its folders draw it: the sub-packages by job are the layers, and
imports (those written inside functions too) form no cycle between modules, and none between
packages that goes up the order below. A new module needs no edit here: its folder places it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inception_v2"
#: The common floor: top-level modules that every layer may import; they import only each other.
COMMON = {"errors", "files", "claims", "interrupts", "progress", "precision"}
#: The sub-packages in order: each imports only from itself, those before it and the floor.
LAYERS = (
    "model",  # the network: built, never loaded
    "weights",  # slim's checkpoints and Keras files into it; InceptionV2(weights=...)
    "data",  # images in: preprocessing, sources, labels, resources
    "inference",  # running a model: compiled, on OpenVINO, int8, classifying files
    "evaluation",  # slim's eval protocol and metrics
    "explain",  # Grad-CAM and its sheets
    "training",  # fine-tuning runs
    "hub",  # KerasHub's classes and presets
    "export",  # serving formats
    "bench",  # the race against slim's graph
    "studies",  # the papers' experiments
    "cli",  # the command line
)
#: Entry points: they may import anything (``bench.worker`` runs as ``python -m`` in a fresh
#: interpreter, the command line included).
ENTRY = {"__init__", "__main__", "bench.worker"}


def imports_of(source: str, here: str = "") -> set[str]:
    """The modules of this package that ``source`` imports (dotted, below ``inception_v2``),
    wherever the import is written (module level or inside a function: a deferred import is
    still a dependency). ``here``: the importing module's package, for relative imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inception_v2."):
            base = node.module.removeprefix("inception_v2.")
            for alias in node.names:  # `from inception_v2.weights import download` names a module
                sub = f"{base}.{alias.name}"
                found.add(sub if (PACKAGE / (sub.replace(".", "/") + ".py")).exists() else base)
        elif isinstance(node, ast.ImportFrom) and node.module == "inception_v2":
            for alias in node.names:
                if (PACKAGE / f"{alias.name}.py").exists() or (PACKAGE / alias.name).is_dir():
                    found.add(alias.name)
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("inception_v2.") for a in node.names if a.name.startswith("inception_v2.")
            }
    return found


def module_imports() -> dict[str, set[str]]:
    """``{module: modules of this package it imports}`` (dotted below ``inception_v2``)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        name = ".".join(parts)
        graph[name] = imports_of(path.read_text()) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*trail, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*trail, node])):
                return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [])):
            return cycle
    return None


def test_no_import_cycles():
    graph = module_imports()
    assert len(graph) > 50 and {"data.sources", "inference.function"} <= graph["evaluation.evaluate"]
    assert "inference.openvino" in graph["inference.function"], "an import inside a function is counted"
    assert "training.run" in graph["cli.finetune"], "the command line's modules are read"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # the negative controls: an import inside a function is seen, and a cycle through one is found
    inside = imports_of("def f():\n    from inception_v2.evaluation.evaluate import evaluate\n")
    assert inside == {"evaluation.evaluate"}
    assert find_cycle({**graph, "model.architecture": inside}) is not None


def test_the_folders_are_the_layers():
    """Every module sits in a layer's folder or on the floor; each imports only from its own
    package, the packages before it and the floor; the floor imports only itself."""
    graph = module_imports()
    order = {name: i for i, name in enumerate(LAYERS)}
    top_level = {m for m in graph if "." not in m and not (PACKAGE / m).is_dir()}
    entry = {m for m in ENTRY if "." not in m}
    assert top_level == COMMON | entry, ("top-level modules outside the floor", top_level ^ (COMMON | entry))
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS), ("sub-packages the order does not place", packages ^ set(LAYERS))
    for module, imported in graph.items():
        if module in ENTRY:
            continue
        unit = module.split(".")[0]
        for target in imported:
            where = target.split(".")[0]
            if module in COMMON:
                assert target in COMMON, (module, "imports above the floor:", target)
            elif where not in COMMON and where != unit:
                assert order[where] < order[unit], (module, "imports from a later layer:", target)
    # the negative control: an upward import is caught
    assert order["model"] < order["weights"], "the check compares positions in the order"


def test_the_public_api_is_the_readmes():
    """``inception_v2`` exports what the README uses, each from where it is defined (no
    re-export chains), and nothing of a lower layer by accident."""
    import importlib
    import re

    import inception_v2

    readme = (PACKAGE.parent / "README.md").read_text()
    for name in inception_v2.__all__:
        obj = getattr(inception_v2, name)
        home = inception_v2._EXPORTS[name]
        assert getattr(obj, "__module__", home) == home or not callable(obj), (name, obj.__module__, home)
        assert name in readme, f"{name}: exported but not in the README"
    for name, home in inception_v2._EXPORTS.items():
        assert name in vars(importlib.import_module(home)), (name, home)
    assert re.search(r"\binception_v2\.InceptionV2\b|from inception_v2 import .*InceptionV2", readme)


def test_every_field_of_the_pretrained_record_is_read():
    """One record describes the release; a field nothing reads is a promise nobody keeps."""
    import dataclasses
    import re

    from inception_v2.model.architecture import PretrainedConfig

    source = "\n".join(
        p.read_text() for p in PACKAGE.rglob("*.py")
    )  # NUM_CLASSES = PRETRAINED.num_classes too
    read = set(re.findall(r"PRETRAINED\.(\w+)", source))
    fields = {f.name for f in dataclasses.fields(PretrainedConfig)}
    assert fields - read == set(), f"fields nothing reads: {sorted(fields - read)}"
    assert "sha384" in read and "top1" in read, "the scan found the reads"
