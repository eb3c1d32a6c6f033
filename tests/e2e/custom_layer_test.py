"""A user's own layer end to end (docs/custom_layers.md): train, evaluate, export and
check_export through the CLIs, with the module named in the config or by --import_modules.

The export's serving signatures are plain TensorFlow ops: check_export's fresh serving
process and its C++ loader run without the user's module (as TF Serving does), while
check_export itself imports it again from the export's pipeline.config to rebuild the
model in memory.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples", "custom_layers", "census_gated.config")
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")
MODULE = "samples.custom_layers.gates"
TINY_RUN = json.dumps({"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 64,
                       "train_config.num_epochs": 40, "train_config.save_checkpoints_steps": 1000})


def untrained_auc():
    """income/auc on the tiny rows of the config's model as training initialises it (same seed)."""
    import easyrank  # noqa: F401

    # isort: split
    import tf_keras

    from easyrank import config as config_lib
    from easyrank.config.modules import import_modules
    from easyrank.evaluation import evaluator
    from easyrank.training import model_state, strategies
    config = config_lib.load_config(CONFIG, json.loads(TINY_RUN))
    import_modules(config.import_modules)
    tf_keras.utils.set_random_seed(config.train_config.seed)
    model, _ = model_state.create_model(config, strategies.build_strategy(config.train_config))
    return evaluator.evaluate_model(model, evaluator.eval_dataset(config), config,
                                    config.eval_config.num_eval_steps)["income/auc"]


def cli(verb, *args):
    return subprocess.run([sys.executable, "-m", f"easyrank.{verb}", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def without_import_modules(tmp_path):
    path = tmp_path / "no_import.config"
    text = open(CONFIG).read()
    assert f'import_modules: "{MODULE}"' in text
    path.write_text(text.replace(f'import_modules: "{MODULE}"', ""))
    return str(path)


@pytest.mark.slow
def test_custom_layer_trains_evaluates_exports_and_passes_check_export(tmp_path):
    model_dir = str(tmp_path / "model")
    # The export CLI below writes the export this test reads: training writes none.
    train = cli("train", "--pipeline_config_path", CONFIG, "--model_dir", model_dir, "--edit_config_json",
                json.dumps(dict(json.loads(TINY_RUN), **{"export_config.exporter": "NONE"})),
                "--trust_config", CONFIG)
    assert train.returncode == 0, train.stderr[-3000:]
    assert f"Imported modules (asked on the command line): {MODULE}" in train.stderr
    results = json.load(open(os.path.join(model_dir, "eval_result.json")))
    # Untrained census models score up to 0.82 on these rows (measured beside, not 0.5).
    before = untrained_auc()
    assert before <= 0.86 - 0.04 and results["income/auc"] >= 0.86, (before, results)

    # The flag instead of the config field, for evaluate and export.
    plain = without_import_modules(tmp_path)
    evaluate = cli("evaluate", "--pipeline_config_path", plain, "--model_dir", model_dir,
                   "--edit_config_json", TINY_RUN, "--import_modules", MODULE)
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    export_dir = str(tmp_path / "export")
    export = cli("export", "--pipeline_config_path", plain, "--model_dir", model_dir,
                 "--edit_config_json", TINY_RUN, "--export_dir", export_dir, "--import_modules", MODULE)
    assert export.returncode == 0, export.stderr[-3000:]
    version = export.stdout.strip().splitlines()[-1]
    recorded = open(os.path.join(version, "assets.extra", "pipeline.config")).read()
    assert f'import_modules: "{MODULE}"' in recorded  # the flag's module is recorded

    # The export's pipeline.config alone imports nothing: the in-memory comparison is skipped.
    check = cli("check_export", version)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "SKIPPED: the comparison with the model rebuilt in memory" in check.stdout
    assert "vs model in memory" not in check.stdout and "Imported modules" not in check.stderr
    check = cli("check_export", version, "--import_modules", MODULE)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "vs model in memory" in check.stdout and "SKIPPED" not in check.stdout
    assert "OK: the export passes every check." in check.stdout


@pytest.mark.slow
def test_unregistered_class_names_the_flag(tmp_path):
    train = cli("train", "--pipeline_config_path", without_import_modules(tmp_path), "--model_dir",
                str(tmp_path / "model"), "--edit_config_json", TINY_RUN)
    assert train.returncode == 2, train.stderr[-3000:]
    message = train.stderr.strip().splitlines()[-1]
    assert "Traceback" not in train.stderr
    assert "custom block 'gated': no layer class is registered as 'my_layers>GatedDense'" in message
    assert "--import_modules" in message and "custom.class_name" in message


@pytest.mark.slow
def test_missing_module_is_a_config_error(tmp_path):
    train = cli("train", "--pipeline_config_path", CONFIG, "--model_dir", str(tmp_path / "model"),
                "--import_modules", f"no_such_pkg.layers,{MODULE}")
    assert train.returncode == 2, train.stderr[-3000:]
    assert "cannot import module 'no_such_pkg.layers'" in train.stderr.strip().splitlines()[-1]
