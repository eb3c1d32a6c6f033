"""End to end on the census sample: train, evaluate, export, reload in a fresh process, predict, resume."""

import csv
import gzip
import json
import os
import shutil
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.training import loop, model_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples", "configs", "census_mlp.config")
TEST_CSV = os.path.join(ROOT, "samples", "data", "census", "test.csv.gz")

# Loads an export without easyrank and prints both signatures' scores for census rows.
FRESH_PROCESS = r'''
import csv, gzip, json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf
assert "easyrank" not in sys.modules
model = tf.saved_model.load(sys.argv[1])
rows = list(csv.DictReader(gzip.open(sys.argv[2], "rt")))[:64]
raw = model.signatures["raw_features"]
spec = raw.structured_input_signature[1]
def example(row):
    feature = {}
    for name, s in spec.items():
        if s.dtype == tf.string:
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[row[name].encode()]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(row[name])]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
a = model.signatures["serving_default"](examples=tf.constant([example(r) for r in rows]))
b = raw(**{n: tf.constant([r[n] for r in rows]) if s.dtype == tf.string
           else tf.constant([float(r[n]) for r in rows], s.dtype) for n, s in spec.items()})
print(json.dumps({"signatures": sorted(model.signatures), "keys": sorted(a),
                  "examples": a["income/probs"].numpy().tolist(), "raw": b["income/probs"].numpy().tolist()}))
'''


STEPS = 3 * 156  # 3 epochs of 79,809 rows in batches of 512


@pytest.fixture
def trained(sample_full):
    """The census_mlp sample's full run of this session (tests/conftest.py: as shipped, evaluated
    on the test split, exported once): (config, model_dir, results). Read-only: a test that
    trains further copies model_dir first."""
    run = sample_full("census_mlp")
    return run.config, run.model_dir, run.after


def test_training_reaches_auc_and_writes_eval_result(trained):
    _, model_dir, results = trained
    with open(os.path.join(model_dir, "eval_result.json")) as f:
        written = json.load(f)
    assert written["global_step"] == STEPS
    assert written["income/auc"] == pytest.approx(results["income/auc"])
    assert written["income/auc"] > 0.90  # an untrained model scores about 0.5
    assert 0 < written["income/logloss"] < 0.25  # predicting the base rate gives 0.23
    assert set(written) >= {"income/auc", "income/logloss", "income/accuracy", "global_step"}
    assert tf.train.latest_checkpoint(model_dir).endswith(f"ckpt-{STEPS}")
    assert os.path.isdir(os.path.join(model_dir, "train")) and os.path.isdir(os.path.join(model_dir, "eval"))


def test_export_reloads_in_fresh_process_and_signatures_agree(trained, tmp_path):
    config, model_dir, _ = trained
    export_base = os.path.join(model_dir, "export")
    versions = [d for d in os.listdir(export_base) if d.isdigit()]
    assert len(versions) == 1 and not [d for d in os.listdir(export_base) if d.startswith(".tmp")]
    version_dir = os.path.join(export_base, versions[0])
    assert os.path.isfile(os.path.join(version_dir, "assets.extra", "pipeline.config"))
    script = tmp_path / "load.py"
    script.write_text(FRESH_PROCESS)
    out = subprocess.run([sys.executable, str(script), version_dir, TEST_CSV],
                         capture_output=True, text=True, timeout=180, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    scores = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"serving_default", "raw_features"} <= set(scores["signatures"])
    assert scores["keys"] == ["income/logits", "income/probs"]
    np.testing.assert_allclose(scores["examples"], scores["raw"], rtol=1e-5, atol=1e-7)
    assert 0.0 < min(scores["examples"]) and max(scores["examples"]) < 1.0
    # The same rows through the in-memory model give the same scores.
    model, checkpoint = model_state.create_model(config, tf.distribute.get_strategy())
    model_state.restore(checkpoint, model_dir)
    rows = list(csv.DictReader(gzip.open(TEST_CSV, "rt")))[:64]
    features = {n: tf.constant([r[n] for r in rows]) if d == tf.string else tf.constant([float(r[n]) for r in rows], d)
                for n, d, _ in model.input_fields}
    np.testing.assert_allclose(model(features)["income/probs"].numpy(), scores["examples"], rtol=1e-5, atol=1e-7)


def run_cli(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_evaluate_and_predict_clis(trained, tmp_path):
    _, model_dir, results = trained
    output = str(tmp_path / "test_metrics.json")
    out = run_cli("easyrank.evaluate", "--pipeline_config_path", CONFIG, "--model_dir", model_dir,
                  "--eval_input_path", TEST_CSV, "--output_path", output)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(output) as f:
        metrics = json.load(f)
    assert metrics["global_step"] == STEPS and metrics["income/auc"] > 0.9
    scores = str(tmp_path / "scores.csv")
    out = run_cli("easyrank.predict", "--saved_model_dir", os.path.join(model_dir, "export"),
                  "--input_path", TEST_CSV, "--output_path", scores)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(scores) as f:
        lines = f.read().splitlines()
    assert lines[0] == "income/logits,income/probs"
    assert len(lines) == 1 + 9977


def test_a_finished_run_continues_from_its_latest_checkpoint(trained, tmp_path):
    # A resume in the middle of the input: tests/training/input_state_test.py and
    # distribute_test.py's killed run. Here the run had read all its input: a run on other
    # input (one epoch instead of 3) continues from the checkpoint's weights, optimizer state
    # and step, and counts its num_steps from there (docs/daily_training.md).
    _, shared, _ = trained
    model_dir = str(tmp_path / "model")
    shutil.copytree(shared, model_dir)  # the shared run stays as it is
    config = config_lib.load_config(CONFIG, edit_config_json={
        "train_config.num_epochs": 1, "train_config.num_steps": 30})
    results = loop.train_and_evaluate(config, model_dir)
    assert results["global_step"] == STEPS + 30
    assert results["income/auc"] > 0.93  # the restored model's level (target 0.935)
    assert tf.train.latest_checkpoint(model_dir).endswith(f"ckpt-{STEPS + 30}")
    assert len([d for d in os.listdir(os.path.join(model_dir, "export")) if d.isdigit()]) == 2


def test_export_cli_writes_a_new_version(trained, tmp_path):
    _, model_dir, _ = trained
    export_dir = str(tmp_path / "serving")
    out = run_cli("easyrank.export", "--pipeline_config_path", CONFIG, "--model_dir", model_dir,
                  "--export_dir", export_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    versions = [d for d in os.listdir(export_dir) if d.isdigit()]
    assert len(versions) == 1
    assert os.path.isfile(os.path.join(export_dir, versions[0], "saved_model.pb"))
    out = run_cli("easyrank.export", "--pipeline_config_path", CONFIG, "--model_dir", str(tmp_path / "none"),
                  "--export_dir", export_dir)
    assert out.returncode == 2 and "no checkpoint found" in out.stderr
