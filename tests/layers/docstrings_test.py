"""Every layer has the docstring form of easyrank/layers/, and every pointer into
docs/blocks.md names a section that exists."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import importlib
import inspect
import os
import pkgutil
import re

import pytest
import tf_keras

import easyrank.layers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCKS_MD = os.path.join(ROOT, "docs", "blocks.md")
_POINTER = re.compile(r"docs/blocks\.md#([\w-]+)")
# Also relative links from the other docs and in-page links within blocks.md.
_LINK = re.compile(r"(?:docs/|\()blocks\.md#([\w-]+)|\]\(#([\w-]+)\)")


def _anchors():
    """GitHub's anchors for the headings of docs/blocks.md."""
    with open(BLOCKS_MD, encoding="utf-8") as f:
        headings = re.findall(r"^#{1,6} (.+)$", f.read(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def _layer_classes():
    for info in pkgutil.iter_modules(easyrank.layers.__path__):
        module = importlib.import_module(f"easyrank.layers.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, tf_keras.layers.Layer):
                yield cls


LAYERS = sorted(_layer_classes(), key=lambda c: c.__name__)


def test_the_layers_are_found():
    assert {"MLP", "Cross", "DCNMix", "MaskNet", "SENet", "DIN", "MMoE", "POSOMLP"} <= {
        c.__name__ for c in LAYERS}


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_layer_docstring_form(cls):
    doc = inspect.getdoc(cls)
    assert doc, f"{cls.__name__} has no docstring"
    lines = doc.splitlines()
    assert lines[0].endswith(".") and (len(lines) == 1 or not lines[1]), (
        f"{cls.__name__}: the docstring starts with a one-line summary")
    pointer = _POINTER.search(doc)
    assert pointer and doc.index("Math: docs/blocks.md#") < doc.index("\nArgs:"), (
        f"{cls.__name__}: after the summary, 'Math: docs/blocks.md#<section>'")
    assert pointer.group(1) in _anchors(), f"{cls.__name__}: no section #{pointer.group(1)}"
    positions = [doc.find(f"\n{section}:\n") for section in ("Args", "Input shape", "Output shape")]
    assert -1 not in positions and positions == sorted(positions), (
        f"{cls.__name__}: needs the sections Args:, Input shape:, Output shape:, in this order")


def test_every_pointer_into_blocks_md_names_a_section():
    anchors, bad = _anchors(), []
    for top in ("easyrank", "tests", "tools", "protos", "samples", "docs", "README.md"):
        for path in _files(os.path.join(ROOT, top)):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            in_page = path == BLOCKS_MD
            for outside, inside in _LINK.findall(text):
                anchor = outside or (inside if in_page else "")
                if anchor and anchor not in anchors:
                    bad.append(f"{os.path.relpath(path, ROOT)}: #{anchor}")
    assert not bad, f"pointers to missing sections of docs/blocks.md: {bad}"


def _files(top):
    if os.path.isfile(top):
        yield top
        return
    for directory, _, names in os.walk(top):
        for name in names:
            if name.endswith((".py", ".md", ".proto", ".config")) and not name.endswith("_pb2.py"):
                yield os.path.join(directory, name)
