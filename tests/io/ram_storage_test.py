"""train -> evaluate -> export -> predict -> check_export with every path on a non-local file
system: TensorFlow's in-memory ram://, through the CLIs' entry points in one process.

ram:// is what a bucket looks like to easyrank: no local path, no mtimes, directory renames
that are not atomic (on ram:// they even lose the files: hence publish_dir's copy).
"""

import csv
import importlib
import io
import json
import os
import sys
import uuid

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")
CLI_MODULES = ("easyrank.train", "easyrank.evaluate", "easyrank.export", "easyrank.predict",
               "easyrank.check_export")


def run_cli(name, *args):
    """Runs `python -m easyrank.<name> args` in this process; returns its exit code.

    The CLIs define flags of the same names, so each run imports its module afresh and
    removes the flags it defined afterwards (easyrank.console's stay).
    """
    importlib.import_module("easyrank.console")
    before = set(flags.FLAGS)
    for module in CLI_MODULES:
        sys.modules.pop(module, None)
    module = importlib.import_module(f"easyrank.{name}")
    saved = sys.argv
    sys.argv = [name, *args]
    try:
        module.console.run(module.main)
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = saved
        for flag in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, flag)
        for module in CLI_MODULES:
            sys.modules.pop(module, None)
    return 0


@pytest.fixture
def bucket():
    root = f"ram://bucket-{uuid.uuid4().hex[:8]}"
    yield root
    tf.io.gfile.rmtree(root)


def test_the_whole_path_on_ram(bucket, capsys):
    tf.io.gfile.makedirs(f"{bucket}/data/day=1")
    tf.io.gfile.copy(TINY, f"{bucket}/data/day=1/part-0.csv")
    with open(BASE, encoding="utf-8") as f:
        text = f.read()
    text = (text.replace('train_input_path: "tests/data/census_tiny.csv"',
                         f'train_input_path: "{bucket}/data/day=*/part-*.csv"')
            .replace('eval_input_path: "tests/data/census_tiny.csv"',
                     f'eval_input_path: "{bucket}/data/day=1/part-0.csv"')
            .replace('model_dir: "/tmp/easyrank_test"', f'model_dir: "{bucket}/model"'))
    config = f"{bucket}/configs/run.config"
    tf.io.gfile.makedirs(f"{bucket}/configs")
    with tf.io.gfile.GFile(config, "w") as f:
        f.write(text + 'export_config { model_name: "census" num_warmup_rows: 4 }\n')
    model = f"{bucket}/model"

    assert run_cli("train", "--pipeline_config_path", config) == 0
    names = set(tf.io.gfile.listdir(model))
    assert {"checkpoint", "pipeline.config", "eval_result.json", "train", "eval", "export", "run.lock"} - {
        "run.lock"} <= names and "run.lock" not in names, names  # the lock is released
    result = json.loads(tf.io.gfile.GFile(f"{model}/eval_result.json").read())
    assert result["global_step"] == 7  # 200 rows / 32 a batch, one epoch
    assert "ckpt-7.index" in names
    versions = [d.rstrip("/") for d in tf.io.gfile.listdir(f"{model}/export")]
    numbered = [v for v in versions if v.isdigit()]
    assert len(numbered) == 1 and not [v for v in versions if v.startswith(".")], versions
    version_dir = f"{model}/export/{numbered[0]}"
    for required in ("saved_model.pb", "variables/variables.index", "assets.extra/pipeline.config",
                     "assets.extra/tf_serving_warmup_requests"):
        assert tf.io.gfile.exists(f"{version_dir}/{required}"), required

    # A second run on the same input (no local mtimes on ram://: identified by content) resumes
    # with nothing left to train.
    assert run_cli("train", "--pipeline_config_path", config) == 0
    again = json.loads(tf.io.gfile.GFile(f"{model}/eval_result.json").read())
    assert again["global_step"] == 7 and again["income/auc"] == pytest.approx(result["income/auc"])

    out = f"{bucket}/metrics/eval.json"
    assert run_cli("evaluate", "--pipeline_config_path", config, "--output_path", out) == 0
    evaluated = json.loads(tf.io.gfile.GFile(out).read())
    assert evaluated["income/auc"] == pytest.approx(result["income/auc"], abs=1e-6)

    def numbered_versions():
        return sorted(d.rstrip("/") for d in tf.io.gfile.listdir(f"{model}/export") if d.rstrip("/").isdigit())

    before = numbered_versions()  # the second run exported too
    assert run_cli("export", "--pipeline_config_path", config) == 0
    assert len(numbered_versions()) == len(before) + 1 and len(before) == 2, before

    scores = f"{bucket}/scores/scores.csv"
    assert run_cli("predict", "--saved_model_dir", f"{model}/export", "--input_path",
                   f"{bucket}/data/day=1/part-0.csv", "--output_path", scores) == 0
    rows = list(csv.DictReader(io.StringIO(tf.io.gfile.GFile(scores).read())))
    assert len(rows) == 200
    assert "income/probs" in rows[0], list(rows[0])
    probs = np.array([float(r["income/probs"]) for r in rows])
    labels = np.array([float(r["income_gt_50k"]) for r in csv.DictReader(open(TINY, encoding="utf-8"))])
    # The exported model scores as the evaluation did: the AUC of its scores equals eval's.
    pos, neg = probs[labels == 1], probs[labels == 0]
    auc = ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    assert auc == pytest.approx(result["income/auc"], abs=0.02)

    capsys.readouterr()
    assert run_cli("check_export", f"{model}/export") == 0
    assert "OK: the export passes every check." in capsys.readouterr().out


def test_ram_directory_rename_loses_files():
    """Why publish_dir copies on ram:// (TF 2.21): renaming a directory keeps none of its files."""
    root = f"ram://rename-{uuid.uuid4().hex[:8]}"
    tf.io.gfile.makedirs(f"{root}/a")
    with tf.io.gfile.GFile(f"{root}/a/x", "w") as f:
        f.write("x")
    tf.io.gfile.rename(f"{root}/a", f"{root}/b")
    assert not tf.io.gfile.exists(f"{root}/b/x")
    tf.io.gfile.rmtree(root)


@pytest.mark.parametrize("model_dir, says", [
    ("s3://bucket/model", "is on s3://, a file system TensorFlow"),
    ("foo://bucket/model", "No easyrank file layer knows foo://"),
])
def test_model_dir_tensorflow_cannot_write_stops_before_training(tmp_path, capsys, model_dir, says):
    config = tmp_path / "run.config"
    config.write_text(open(BASE, encoding="utf-8").read().replace('"tests/data/', f'"{ROOT}/tests/data/'))
    assert run_cli("train", "--pipeline_config_path", str(config), "--model_dir", model_dir) == 2
    err = capsys.readouterr().err
    paragraph = [line for line in err.splitlines() if line.startswith("Config error:")]
    assert len(paragraph) == 1 and "Traceback" not in err, err[-2000:]
    assert paragraph[0].startswith(f"Config error: {config}:4: model_dir: '{model_dir}' ")
    assert says in paragraph[0] and "--import_modules" in paragraph[0]
    assert "Training to step" not in err
