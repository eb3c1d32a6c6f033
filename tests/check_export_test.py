"""check_export fails closed (issue 24): a check that cannot run is a problem unless skipped
explicitly, and the C++ loader runs on TensorFlow's C++ libraries only, as a model server does."""

import os
import subprocess
import sys

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import pytest

from easyrank.config import load_config
from easyrank.models import build_model
from easyrank.serving import cc_check, check_processes, saved_model
from easyrank.serving.check_processes import CheckProcesses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory):
    config = load_config(os.path.join(ROOT, "samples", "configs", "census_mlp.config"),
                         {"train_input_path": [TINY], "eval_input_path": [TINY]})
    base = str(tmp_path_factory.mktemp("export") / "export")
    return saved_model.export_model(build_model(config), config, base)


def test_loader_that_cannot_compile_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    broken = tmp_path / "load_saved_model.cc"
    broken.write_text('#include "tensorflow/cc/saved_model/no_such_header.h"\nint main() { return 0; }\n')
    problems, lines = cc_check.run(str(tmp_path), source=str(broken))
    assert lines == [] and len(problems) == 1, problems
    assert "could not run: compiling load_saved_model.cc failed" in problems[0]
    assert "no_such_header.h" in problems[0] and "--skip_cc_loader" in problems[0]


def test_no_compiler_is_a_problem_and_an_explicit_skip_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no g++ there
    problems, _ = cc_check.run(str(tmp_path))
    assert problems and "could not run: no C++ compiler (g++) on PATH" in problems[0]
    problems, lines = cc_check.run(str(tmp_path), skip=True)
    assert problems == [] and "SKIPPED" in lines[0] and "--skip_cc_loader" in lines[0]


def test_loader_links_tensorflow_cc_and_runs_without_python(version_dir, monkeypatch):
    binary, reason = cc_check.build()
    assert binary is not None, reason  # g++ and the wheel's headers are part of the test set-up
    dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, timeout=60).stdout
    needed = "\n".join(line for line in dynamic.splitlines() if "(NEEDED)" in line)
    # The session factory and the kernels live in libtensorflow_cc.so.2: without it
    # LoadSavedModel fails with "No session factory registered".
    assert "[libtensorflow_cc.so.2]" in needed and "[libtensorflow_framework.so.2]" in needed
    assert "python" not in needed.lower()
    monkeypatch.setenv("LD_PRELOAD", "")  # nothing preloaded, as a model server runs
    problems, lines = cc_check.run(version_dir)
    assert problems == [] and lines == ["  C++ tensorflow::LoadSavedModel + Session::Run: 4 signatures OK"]


def check_export(version_dir, *flags, path=None):
    env = dict(os.environ, PYTHONPATH=ROOT)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "easyrank.check_export", version_dir, "--num_rows", "16",
                           *flags], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


@pytest.mark.slow
def test_cli_exits_non_zero_when_the_loader_cannot_run_unless_skipped(version_dir, tmp_path):
    out = check_export(version_dir, path=str(tmp_path))  # no g++ on PATH
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "PROBLEM: the C++ LoadSavedModel check could not run: no C++ compiler" in out.stdout
    assert "OK" not in out.stdout.splitlines()[-1]
    out = check_export(version_dir, "--skip_cc_loader", path=str(tmp_path))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "SKIPPED: the C++ LoadSavedModel check (--skip_cc_loader)" in out.stdout
    assert out.stdout.splitlines()[-1].startswith("OK: the export passes every check but the C++ loader's")


def test_one_loader_process_checks_several_exports_in_turn(version_dir, tmp_path):
    """CheckProcesses' C++ loader (--serve): each export in its own bundle; a failed load is that
    export's problem, and the same process goes on with the next export."""
    with CheckProcesses() as processes:
        good, bad, again = (processes.start_cc(version_dir), processes.start_cc(str(tmp_path)),
                            processes.start_cc(version_dir))
        assert processes.finish_cc(good) == ([], ["  C++ tensorflow::LoadSavedModel + Session::Run: "
                                                  "4 signatures OK"])
        problems, lines = processes.finish_cc(bad)
        assert lines == [] and len(problems) == 1 and problems[0].startswith(
            "C++ LoadSavedModel: LoadSavedModel failed:"), problems
        assert (problems, lines) == cc_check.run(str(tmp_path))  # the one-shot loader's answer
        assert processes.finish_cc(again) == ([], ["  C++ tensorflow::LoadSavedModel + Session::Run: "
                                                   "4 signatures OK"])


def test_shared_process_skips_stale_answers_and_is_restarted_after_a_crash(tmp_path, monkeypatch):
    script = tmp_path / "server.py"
    script.write_text("import json, sys\n"
                      "for line in sys.stdin:\n"
                      "    request = json.loads(line)\n"
                      "    if request['version_dir'] == 'crash':\n"
                      "        sys.exit('crashed on purpose')\n"
                      "    open(request['out'], 'w').write(json.dumps({'id': request['id']}))\n"
                      "    print('END', request['id'], 0, flush=True)\n")
    monkeypatch.setattr(check_processes, "SERVING_SIM", str(script))
    with CheckProcesses() as processes:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        stale = processes.start_fresh("x", None, str(tmp_path / "a"))  # never collected
        second = processes.start_fresh("x", None, str(tmp_path / "b"))
        assert processes.finish_fresh(second) == ({"id": second[0]}, {})
        with pytest.raises(RuntimeError, match="crashed on purpose"):
            processes.finish_fresh(processes.start_fresh("crash", None, str(tmp_path / "a")))
        after = processes.start_fresh("x", None, str(tmp_path / "b"))  # a new process
        assert processes.finish_fresh(after) == ({"id": after[0]}, {}) and stale[0] < second[0] < after[0]
