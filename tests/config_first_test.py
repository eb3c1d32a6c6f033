"""A bad config fails before TensorFlow is imported (issue 23): the CLIs check the config first.

Each CLI process here must end on the config error without importing TensorFlow (4-5 s of CPU
on 2 cores), so a typo is reported at once; an import that drags TensorFlow back into the config
path (config/, the file layer, console/) fails these tests.
"""

import os
import subprocess
import sys

import pytest

from easyrank.console import logs
from easyrank.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "samples", "configs", "census_mlp.config")

# Runs a CLI module as `python -m` would, then reports whether TensorFlow was imported.
RUN = """
import runpy, sys
module = sys.argv[1]
sys.argv = [module] + sys.argv[2:]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as e:
    code = e.code
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(code)
"""


def run_cli(module, *args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", RUN, module, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


def write(tmp_path, old, new):
    text = open(CONFIG).read()
    assert old in text
    path = tmp_path / "bad.config"
    path.write_text(text.replace(old, new, 1))
    return str(path), text[:text.index(old)].count("\n") + 1


@pytest.mark.parametrize("module, extra", [
    ("easyrank.train", []), ("easyrank.evaluate", []), ("easyrank.export", ["--export_dir", "/tmp/x"]),
    ("easyrank.stats", ["--output_config", "/tmp/x.config"]),
])
def test_a_typo_fails_before_tensorflow_is_imported(tmp_path, module, extra):
    path, line = write(tmp_path, "num_epochs: 3", "num_epoch: 3")
    out = run_cli(module, "--pipeline_config_path", path, *extra)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().splitlines() == [
        f'Config error: {path}:{line}: Message type "easyrank.protos.TrainConfig" has no field named '
        '"num_epoch". Check the field name and value against protos/easyrank/protos/.']
    assert "tensorflow imported: False" in out.stdout


def test_semantic_errors_fail_before_tensorflow_is_imported(tmp_path):
    path, line = write(tmp_path, "num_epochs: 3", "num_epochs: -1")
    out = run_cli("easyrank.train", "--pipeline_config_path", path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip() == (f"Config error: {path}:{line}: train_config.num_epochs: must be "
                                  "positive. Received: -1.")
    assert "tensorflow imported: False" in out.stdout
    # The train CLI's own check (no model_dir) and the import_modules authorization, too.
    path, _ = write(tmp_path, 'model_dir: "/tmp/easyrank/census_mlp"', "")
    out = run_cli("easyrank.train", "--pipeline_config_path", path)
    assert out.returncode == 2 and "no model_dir" in out.stderr, out.stderr[-2000:]
    assert "tensorflow imported: False" in out.stdout
    path, _ = write(tmp_path, 'model_dir:', 'import_modules: "os"\nmodel_dir:')
    out = run_cli("easyrank.train", "--pipeline_config_path", path)
    assert out.returncode == 2 and "import_modules[0]" in out.stderr, out.stderr[-2000:]
    assert "tensorflow imported: False" in out.stdout


def test_a_missing_config_file_fails_before_tensorflow_is_imported(tmp_path):
    path = str(tmp_path / "absent.config")
    out = run_cli("easyrank.train", "--pipeline_config_path", path)
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip() == (f"Config error: {path}: cannot read the config file: {path}; "
                                  "No such file or directory.")
    assert "tensorflow imported: False" in out.stdout


def test_what_a_config_check_that_imports_tensorflow_writes_is_dropped_on_its_error(capfd):
    # A check that needs TensorFlow (an RE2 split_pattern) imports it inside the held stderr
    # (logs.quiet_if_tensorflow_loads): on a ConfigError only the error's paragraph is printed,
    # any other error shows the held text.
    with pytest.raises(ConfigError), logs._held_stderr(drop=(ConfigError,)):
        os.write(2, b"import chatter\n")
        raise ConfigError("bad")
    assert "import chatter" not in capfd.readouterr().err
    with pytest.raises(ImportError), logs._held_stderr(drop=(ConfigError,)):
        os.write(2, b"import failed\n")
        raise ImportError("x")
    assert "import failed" in capfd.readouterr().err
