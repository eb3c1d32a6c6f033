"""The one-way data flow of the package, checked on the import graph of every module.

Imports point down the layers and never form a cycle:
CLIs -> console, training -> serving, evaluation -> models -> backbone -> features -> data -> config,
with layers/ (plain tf_keras) at the bottom, importing nothing of easyrank, and embeddings/ (the
tables' creation, initialisation and memory estimate) beside it, importing only the base.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "easyrank")
CLIS = {"easyrank.train", "easyrank.evaluate", "easyrank.export", "easyrank.predict",
        "easyrank.check_export", "easyrank.launch", "easyrank.stats"}
BASE = {"easyrank", "easyrank.errors", "easyrank.protos", "easyrank.io"}  # io: the file layer

# What each part may import from easyrank besides itself (and BASE, except for layers).
ALLOWED = {
    "easyrank.layers": set(),
    "easyrank.errors": set(),
    "easyrank.io": set(),
    "easyrank.protos": set(),
    "easyrank.embeddings": set(),
    "easyrank.config": {"easyrank.embeddings"},
    "easyrank.data": set(),
    "easyrank.features": {"easyrank.layers", "easyrank.data", "easyrank.embeddings"},
    "easyrank.backbone": {"easyrank.layers", "easyrank.features"},
    "easyrank.models": {"easyrank.layers", "easyrank.features", "easyrank.backbone", "easyrank.data",
                        "easyrank.embeddings"},
    "easyrank.evaluation": {"easyrank.models", "easyrank.data"},
    # config: the feature kinds name the inputs raw_features joins (serving/predictor.py).
    "easyrank.serving": {"easyrank.models", "easyrank.data", "easyrank.config"},
    # config: the GPU run re-checks table memory against the devices it found (training/gpu_memory.py).
    "easyrank.training": {"easyrank.models", "easyrank.data", "easyrank.evaluation", "easyrank.serving",
                          "easyrank.config", "easyrank.embeddings"},
    "easyrank.console": {"easyrank.config"},
    "easyrank.statistics": {"easyrank.data", "easyrank.config"},
}
for _cli in CLIS:
    ALLOWED[_cli] = {"easyrank.console", "easyrank.config", "easyrank.training", "easyrank.evaluation",
                     "easyrank.serving", "easyrank.statistics"}


def modules():
    """{module name: path} of every Python module of the package (generated protos excepted)."""
    found = {}
    for directory, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py") and not name.endswith("_pb2.py"):
                path = os.path.join(directory, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                found[module] = path
    return found


MODULES = modules()


def imported_modules(path):
    """The easyrank modules a file imports (anywhere in it, function bodies included)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("easyrank"):
                yield _module_of(name)


def _module_of(name):
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def part(module):
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def test_every_module_belongs_to_a_part():
    unknown = sorted(m for m in MODULES if m != "easyrank" and part(m) is None)
    assert not unknown, f"modules outside the layers listed in ALLOWED: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module):
    own = part(module)
    for name in imported_modules(MODULES[module]):
        assert name not in CLIS or name == module, f"{module} imports the CLI {name}"
        if own is None:  # easyrank/__init__.py
            assert name == "easyrank", f"easyrank/__init__.py imports {name}"
            continue
        target = part(name) or name
        allowed = {own} | ALLOWED[own] | ({"easyrank"} if own == "easyrank.layers" else BASE)
        assert target in allowed, (
            f"{module} imports {name}, against the flow CLIs -> training -> serving/evaluation -> "
            "models -> backbone -> features -> data")


def find_cycle(graph):
    """One import cycle of `graph` ({module: set of modules}) as a list, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    graph = {m: {n for n in imported_modules(p) if n != m} for m, p in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
