"""The package's shape, as the README's Layout draws it: module-level imports form no cycle,
and each layer imports only from itself, the layers before it and the common modules."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inception_v2"
#: The layers of the README's Layout, in order: a module imports (at module level) only from
#: its own layer, the layers before it, and the common modules.
COMMON = {"errors", "files", "run_folder", "interrupts", "precision", "progress"}
LAYERS = (
    {"architecture", "model"},
    {"checkpoint", "keras_weights", "weights", "convert", "slim_reference", "download", "archive"},
    {"preprocessing", "data", "train_data", "labels"},
    {"evaluate", "inference", "openvino_engine", "hardware", "finetune", "train", "backup", "distributed"}
    | {"bn_study"}
    | {"export", "bench", "live_weights", "example_data", "classify"},
    {"cli", "__main__", "__init__"},
)


def module_imports() -> dict[str, set[str]]:
    """``{module: modules of this package it imports at module level}`` (imports inside
    functions are deferred on purpose: optional dependencies, start-up time)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        found = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inception_v2."):
                found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("inception_v2.")}
        graph[path.stem] = found
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
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # the negative control: the detector does see a cycle when there is one
    assert find_cycle({**graph, "architecture": {"evaluate"}}) is not None


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
