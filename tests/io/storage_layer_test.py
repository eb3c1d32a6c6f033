"""Every file operation on a user path goes through easyrank/io/ (tf.io.gfile, pyarrow.fs).

An AST scan of easyrank/: outside easyrank/io/, no module opens, globs, lists, stats,
moves or deletes files by the builtin open, os, glob, shutil, tempfile, gzip.open or
pathlib, except the few places below whose paths are local by nature.
"""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(ROOT, "easyrank")

FORBIDDEN = {
    "os": {"listdir", "makedirs", "mkdir", "remove", "unlink", "rename", "renames", "replace", "rmdir",
           "removedirs", "scandir", "stat", "lstat", "walk", "open", "access", "utime", "chmod"},
    "os.path": {"exists", "lexists", "isdir", "isfile", "getmtime", "getsize", "getctime", "getatime"},
    "glob": {"glob", "iglob"},
    "shutil": {"copy", "copy2", "copyfile", "copytree", "rmtree", "move", "disk_usage"},
    "tempfile": {"mkdtemp", "mkstemp", "TemporaryFile", "NamedTemporaryFile", "TemporaryDirectory"},
    "gzip": {"open"},
    "pathlib": {"Path"},
}
# (file, enclosing function): why its paths are local, never a user's storage path.
ALLOWED = {
    ("easyrank/serving/cc_check.py", "build"): "compiles the C++ check into ~/.cache; reads TF's headers",
    ("easyrank/training/strategies.py", "write_dir"): "a non-chief worker's private scratch checkpoints",
    ("easyrank/training/strategies.py", "cleanup_write_dir"): "deletes that scratch directory",
    ("easyrank/training/model_dir_lock.py", "_process_start"): "/proc/<pid>/stat of this host",
    ("easyrank/embeddings/memory.py", "machine_memory"): "the cgroup memory limit of this machine",
    ("easyrank/serving/retrieval_checks.py", "check"): "local scratch that check_export's fresh process reads",
    ("easyrank/serving/checks.py", "check"): "local scratch that check_export's fresh process reads",
    ("easyrank/serving/check_processes.py", "__init__"): "a check process's stderr in an anonymous temporary file",
    ("easyrank/console/app.py", "bug_message"): "the traceback of a bug, kept in a local temp file",
    ("easyrank/console/logs.py", "_held_stderr"): "holds stderr in an anonymous temporary file",
    # Sorted runs of the bounded-memory evaluation: local scratch (eval_config.spill_dir, TMPDIR).
    ("easyrank/evaluation/external_sort.py", "_write_run"): "writes a sorted run to local scratch",
    ("easyrank/evaluation/external_sort.py", "merged"): "deletes merged runs from local scratch",
    ("easyrank/evaluation/external_sort.py", "close"): "deletes the local scratch directory",
    ("easyrank/evaluation/external_sort.py", "__init__"): "reads a sorted run from local scratch",
    ("easyrank/training/evaluator_task.py", "_wait_for"): "os.access only for a path without a scheme",
}


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def violations(source, relative):
    """[(line, call, enclosing function)] of file operations outside the layer in `source`."""
    tree = ast.parse(source)
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                called = _dotted(child.func)
                module, _, attr = (called or "").rpartition(".")
                bad = called == "open" or attr in FORBIDDEN.get(module, ())
                if bad and (relative, function) not in ALLOWED:
                    found.append((child.lineno, called, function))
            visit(child, name)

    visit(tree, None)
    return found


def test_no_file_operation_outside_the_layer():
    problems = []
    for directory, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, ROOT).replace(os.sep, "/")
            if not name.endswith(".py") or relative.startswith("easyrank/io/") or name.endswith("_pb2.py"):
                continue
            with open(path, encoding="utf-8") as f:
                problems += [f"{relative}:{line}: {call} in {function}()"
                             for line, call, function in violations(f.read(), relative)]
    assert not problems, "file operations outside easyrank/io/:\n" + "\n".join(problems)


def test_the_scan_finds_each_kind():
    source = """
import glob, os, shutil, tempfile
def f(p):
    open(p)
    os.path.exists(p)
    os.makedirs(p)
    glob.glob(p)
    shutil.rmtree(p)
    tempfile.mkdtemp()
    os.path.join(p, "x")
    files.open(p)
"""
    calls = [call for _, call, _ in violations(source, "easyrank/x.py")]
    assert calls == ["open", "os.path.exists", "os.makedirs", "glob.glob", "shutil.rmtree", "tempfile.mkdtemp"]


def test_allowed_entries_exist():
    """Each allow-listed function exists and still does a file operation (no stale entries)."""
    for relative, function in ALLOWED:
        with open(os.path.join(ROOT, relative), encoding="utf-8") as f:
            source = f.read()
        assert f"def {function}(" in source, (relative, function)
        hits = [v for v in violations(source, "elsewhere") if v[2] == function]
        assert hits, f"{relative}:{function} is allow-listed but does no file operation"
