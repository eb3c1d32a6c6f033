"""Every repository path named in docs/, the README and comments or docstrings of the code
exists (issue 24: stale paths in serving/ and the protos)."""

import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ("easyrank", "tests", "tools", "docs", "samples", "protos")
# A path starting at a top-level directory, not inside a longer path (/tmp/easyrank/...) or
# a dotted name; wildcards and placeholders (*, <...>, {...}) are not single paths.
PATH = re.compile(r"(?<![\w./~-])((?:%s)/[\w./-]*\w)" % "|".join(TOP))
SOURCES = ["README.md", "docs/*.md", "samples/**/*.md", "samples/**/*.config", "easyrank/**/*.py",
           "easyrank/**/*.cc", "protos/**/*.proto", "tools/**/*.py", "tests/**/*.py", "setup.py"]
GENERATED = re.compile(r"_pb2\.py$")
# Paths that are not in the repository on purpose, each with where it comes from.
NOT_IN_REPOSITORY = {
    "samples/data/census/parquet": "written by tools/convert_to_parquet.py",
    "tools/shared_lookup_benchmark.py": "in a reverted commit, which docs/benchmarks.md names",
}


def named_paths(text):
    for match in PATH.finditer(text):
        end = text[match.end():match.end() + 1]
        if end in "*<{$":
            continue
        yield match.group(1).rstrip(".")


def sources():
    for pattern in SOURCES:
        for path in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
            if not GENERATED.search(path) and os.path.isfile(path):
                yield path


def exists(name):
    """A file or directory, or the stem of one (a checkpoint prefix, a module.function)."""
    if any(name == p or name.startswith(p + "/") for p in NOT_IN_REPOSITORY):
        return True
    full = os.path.join(ROOT, name)
    return os.path.exists(full) or bool(glob.glob(glob.escape(full) + ".*")) or bool(
        glob.glob(glob.escape(full.rsplit(".", 1)[0]) + ".py"))


def test_named_paths_exist():
    missing = []
    for path in sources():
        text = open(path, encoding="utf-8").read()
        if path.endswith(".py"):  # comments and docstrings only, not strings the code builds
            text = "\n".join(re.findall(r"#[^\n]*|\"\"\"[\s\S]*?\"\"\"", text))
        if path.endswith(".proto"):  # import paths are relative to protos/
            text = re.sub(r'(?m)^import "[^"]*";', "", text)
        for name in named_paths(text):
            if not exists(name):
                missing.append(f"{os.path.relpath(path, ROOT)}: {name}")
    assert not missing, "\n".join(sorted(set(missing)))


def test_finds_a_missing_path():
    assert list(named_paths("see tests/no_such_test.py, /tmp/easyrank/x and easyrank/*.py")) == [
        "tests/no_such_test.py"]
