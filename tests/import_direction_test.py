"""The one-way data flow of STYLE.md §2, checked on the import graph."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "easyrank")
CLIS = {"easyrank.train", "easyrank.evaluate", "easyrank.predict", "easyrank.cli", "easyrank.launch",
        "easyrank.check_export"}

# What each part of the package may import from easyrank (besides itself and errors/protos).
ALLOWED = {
    "easyrank.layers": set(),
    "easyrank.config": {"easyrank.validation"},
    "easyrank.validation": set(),
    "easyrank.data": set(),
    "easyrank.features": {"easyrank.layers", "easyrank.data"},
    "easyrank.backbone": {"easyrank.layers", "easyrank.features"},
    "easyrank.models": {"easyrank.layers", "easyrank.features", "easyrank.backbone", "easyrank.data"},
}
ALWAYS = {"easyrank", "easyrank.errors", "easyrank.protos"}


def modules():
    for directory, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py") and not name.endswith("_pb2.py"):
                path = os.path.join(directory, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                yield module, path


def imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


def part(module):
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


@pytest.mark.parametrize("module, path", sorted(modules()))
def test_imports_flow_one_way(module, path):
    own = part(module)
    for name in imports(path):
        if not name.startswith("easyrank"):
            continue
        assert name not in CLIS or module in CLIS or module == "easyrank.export", f"{module} imports CLI {name}"
        if own is None:
            continue
        target = part(name) or name
        # Layers are plain tf_keras: no protos, no config, no errors module.
        allowed = {"easyrank", own} if own == "easyrank.layers" else ALLOWED[own] | ALWAYS | {own}
        ok = target in allowed or any(name == a or name.startswith(a + ".") for a in allowed)
        assert ok, f"{module} imports {name}, against the data flow config -> data -> features -> backbone -> models"
