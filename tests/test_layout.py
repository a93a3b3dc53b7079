"""The package's shape, as the README's Layout draws it: imports form no cycle (imports written
inside functions counted too), and each layer imports only from itself, the layers before it and
the common modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inception_v2"
#: The layers of the README's Layout, in order: a module imports (at module level) only from
#: its own layer, the layers before it, and the common modules.
COMMON = {"errors", "files", "claims", "run_folder", "interrupts", "precision", "progress", "runner"}
LAYERS = (
    {"architecture", "initializers", "network", "flops"},  # the network: built, never loaded
    {"checkpoint", "keras_weights", "weights", "slim_reference", "download", "archive"},
    {"model", "convert"},  # the one factory (build, then load), and conversion through it
    {"preprocessing", "data", "train_data", "labels", "calibration"},
    {"evaluate", "inference", "openvino_engine", "hardware", "finetune", "train", "backup", "distributed"}
    | {"classifier_training"}
    | {"bn_study_data", "bn_study_results", "bn_study"}
    | {"export", "live_weights", "example_data", "classify"}
    | {"bench_speed", "bench_agreement", "bench_pipeline", "bench"}
    | {"model_card", "hub", "quantized", "reliability", "grad_cam", "explain"},
    {"cli", "__main__", "__init__", "bench_worker"},  # entry points
)


def imports_of(source: str) -> set[str]:
    """The modules of this package that ``source`` imports, wherever the import is written
    (module level or inside a function: a deferred import is still a dependency)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inception_v2."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "inception_v2":
            found |= {a.name for a in node.names if (PACKAGE / f"{a.name}.py").exists()}
            found |= {a.name for a in node.names if (PACKAGE / a.name / "__init__.py").exists()}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("inception_v2.")}
    return found


def module_imports() -> dict[str, set[str]]:
    """``{module: modules of this package it imports}``, function-level imports included; a
    sub-package (the command line, one module per command) counts as one module."""
    graph = {path.stem: imports_of(path.read_text()) - {path.stem} for path in PACKAGE.glob("*.py")}
    for package in (init.parent for init in PACKAGE.glob("*/__init__.py")):
        found = set().union(*(imports_of(path.read_text()) for path in package.glob("*.py")))
        graph[package.name] = found - {package.name}
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
    assert len(graph) > 20 and graph["evaluate"] >= {"data", "inference"}, "the scan found the imports"
    assert "openvino_engine" in graph["inference"], "an import inside a function is counted"
    assert {"evaluate", "train", "hub"} <= graph["cli"], "the command line's modules are read"
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # the negative controls: an import inside a function is seen, and a cycle through one is found
    inside = imports_of("def f():\n    from inception_v2.evaluate import evaluate\n")
    assert inside == {"evaluate"}
    assert find_cycle({**graph, "architecture": inside}) is not None


def test_each_layer_imports_only_what_is_below_it():
    graph = module_imports()
    placed = set().union(COMMON, *LAYERS)
    assert placed == set(graph), ("modules the layout does not place", set(graph) ^ placed)
    for module in COMMON:
        assert graph[module] <= COMMON, (module, graph[module] - COMMON)
    allowed = set(COMMON)
    for layer in LAYERS:
        allowed |= layer
        for module in layer:
            assert graph[module] <= allowed, (module, "imports from a later layer:", graph[module] - allowed)


def test_every_field_of_the_pretrained_record_is_read():
    """One record describes the release; a field nothing reads is a promise nobody keeps."""
    import dataclasses
    import re

    from inception_v2.architecture import PretrainedConfig

    source = "\n".join(
        p.read_text() for p in PACKAGE.glob("*.py")
    )  # NUM_CLASSES = PRETRAINED.num_classes too
    read = set(re.findall(r"PRETRAINED\.(\w+)", source))
    fields = {f.name for f in dataclasses.fields(PretrainedConfig)}
    assert fields - read == set(), f"fields nothing reads: {sorted(fields - read)}"
    assert "sha384" in read and "top1" in read, "the scan found the reads"
