"""Errors that the CLIs find before TensorFlow is imported (easyrank/io/early.py, issue 23)."""

import os
import subprocess
import sys

import pytest

from easyrank.errors import ConfigError
from easyrank.io import early

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Runs a CLI as `python -m` does and says at exit whether TensorFlow was imported.
PROBE = ("import atexit, runpy, sys\n"
         "atexit.register(lambda: print('tensorflow imported' if 'tensorflow' in sys.modules else "
         "'tensorflow not imported', file=sys.stderr))\n"
         "sys.argv = sys.argv[1:]\n"
         "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n")


def test_a_local_directory_that_is_a_file_and_an_output_among_the_inputs(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="exists and is not a directory") as e:
        early.check_local_directory(str(tmp_path / "f"), "model_dir")
    assert e.value.path == "model_dir"
    early.check_local_directory(str(tmp_path), "model_dir")  # a directory
    early.check_local_directory(str(tmp_path / "new"), "model_dir")  # not there yet
    early.check_local_directory("gs://bucket/f", "model_dir")  # left to preflight
    (tmp_path / "a.csv").write_text("")
    inputs = early.local_files([str(tmp_path / "*.csv"), "gs://bucket/x.csv"])
    assert inputs == [str(tmp_path / "a.csv")]
    with pytest.raises(ConfigError, match="is also an input file"):
        early.check_output_is_not_an_input(str(tmp_path / "." / "a.csv"), inputs)
    early.check_output_is_not_an_input(str(tmp_path / "b.csv"), inputs)


def test_train_cli_reports_a_missing_eval_input_path_without_importing_tensorflow(tmp_path):
    config = tmp_path / "x.config"
    text = open(os.path.join(ROOT, "tests", "configs", "base.config")).read()
    config.write_text("\n".join(line for line in text.splitlines() if not line.startswith("eval_input_path")))
    out = subprocess.run([sys.executable, "-c", PROBE, "easyrank.train", "--pipeline_config_path", str(config),
                          "--model_dir", str(tmp_path / "m")], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "eval_input_path: is not set: a run ends with an evaluation" in out.stderr
    assert out.stderr.strip().endswith("tensorflow not imported"), out.stderr[-2000:]
