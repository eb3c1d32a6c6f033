"""TFRecord end to end: train from tf.Example files, export, predict a TFRecord file; a dense
vector read from a float_list, served in the same form."""

import csv
import os
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.serving import checks
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


def write_tfrecord(path):
    with open(TINY) as f, tf.io.TFRecordWriter(path) as writer:
        rows = list(csv.DictReader(f))
        for row in rows:
            feature = {
                "age": tf.train.Feature(float_list=tf.train.FloatList(value=[float(row["age"])])),
                "education": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["education"].encode()])),
                "sex": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row["sex"].encode()])),
                "income_gt_50k": tf.train.Feature(float_list=tf.train.FloatList(
                    value=[float(row["income_gt_50k"])])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return len(rows)


def test_train_export_and_predict_tfrecord(tmp_path):
    data = str(tmp_path / "tiny.tfrecord")
    rows = write_tfrecord(data)
    config = config_lib.load_config(BASE, edit_config_json={
        "train_input_path": [data], "eval_input_path": [data], "data_config.format": "TFRECORD",
        "train_config.num_epochs": 3})
    model_dir = str(tmp_path / "model")
    results = loop.train_and_evaluate(config, model_dir)
    assert results["global_step"] == -(-3 * rows // 32)  # epochs are batched together
    assert results["num_examples"] == rows
    scores = str(tmp_path / "scores.csv")
    out = subprocess.run([sys.executable, "-m", "easyrank.predict", "--saved_model_dir",
                          os.path.join(model_dir, "export"), "--input_path", data, "--output_path", scores],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = open(scores).read().splitlines()
    assert lines[0] == "income/logits,income/probs" and len(lines) == rows + 1


VECTOR_CONFIG = """
train_input_path: "{train}"
eval_input_path: "{eval}"
data_config {{
  format: TFRECORD
  input_fields {{ name: "user" type: STRING }}
  input_fields {{ name: "item_vector" type: FLOAT length: 4 }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 128
}}
feature_configs {{ id_feature {{ name: "user" hash_bucket_size: 100 embedding_dim: 4 }} }}
feature_configs {{ vector_feature {{ name: "item_vector" dimension: 4 embedding_dim: 4 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["user", "item_vector"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [16] }} }} }}
  tasks {{ name: "ctr" label: "label" metrics: [AUC] }}
}}
train_config {{ optimizer {{ adam {{ learning_rate: 0.01 }} }} num_epochs: 4 seed: 2 }}
"""


def write_vector_tfrecord(path, rows, seed, bad_row=None):
    """Label from a fixed vector per item (logit = v . w); row `bad_row` gets a 3-value vector."""
    rng, world = np.random.default_rng(seed), np.random.default_rng(0)
    vectors, w = world.normal(size=(50, 4)).astype(np.float32), np.array([1.5, -1.5, 1.0, 0.0])
    with tf.io.TFRecordWriter(path) as writer:
        for row in range(1, rows + 1):
            item = rng.integers(50)
            label = float(rng.random() < 1 / (1 + np.exp(-2 * vectors[item] @ w)))
            vector = vectors[item][:3] if row == bad_row else vectors[item]
            feature = {
                "user": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"u{rng.integers(20)}".encode()])),
                "item_vector": tf.train.Feature(float_list=tf.train.FloatList(value=vector)),
                "label": tf.train.Feature(float_list=tf.train.FloatList(value=[label])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return vectors


def test_float_list_vector_trains_exports_and_serves_the_same_form(tmp_path):
    train, evaluation = str(tmp_path / "train.tfrecord"), str(tmp_path / "eval.tfrecord")
    vectors = write_vector_tfrecord(train, 3000, 1)
    write_vector_tfrecord(evaluation, 1000, 2)
    config = config_lib.parse_config(VECTOR_CONFIG.format(train=train, eval=evaluation))
    config_lib.validate(config)
    model_dir = str(tmp_path / "model")
    results = loop.train_and_evaluate(config, model_dir)
    # The label depends on the vector only: an untrained model scores 0.5, the generating one ~0.85.
    assert results["ctr/auc"] > 0.75, results
    export = os.path.join(model_dir, "export")
    problems, lines = checks.check(export, num_rows=16, cc_check=True)
    assert problems == [], "\n".join(lines)
    assert any("LoadSavedModel + Session::Run" in line for line in lines), lines

    # serving_default parses a float_list like the training input; raw_features takes [B, 4] floats.
    version = os.path.join(export, max((d for d in os.listdir(export) if d.isdigit()), key=int))
    loaded = tf.saved_model.load(version)
    example = tf.train.Example(features=tf.train.Features(feature={
        "user": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"u3"])),
        "item_vector": tf.train.Feature(float_list=tf.train.FloatList(value=vectors[7]))}))
    from_example = loaded.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))
    from_raw = loaded.signatures["raw_features"](user=tf.constant(["u3"]), item_vector=tf.constant(vectors[7:8]))
    np.testing.assert_allclose(from_example["ctr/probs"].numpy(), from_raw["ctr/probs"].numpy(), rtol=1e-6)
    del example.features.feature["item_vector"].float_list.value[-1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="item_vector"):
        loaded.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))

    # A record whose vector has another length stops training: exit 3 naming file and record.
    bad = str(tmp_path / "bad.tfrecord")
    write_vector_tfrecord(bad, 300, 3, bad_row=117)
    path = str(tmp_path / "bad.config")
    with open(path, "w") as f:
        f.write(VECTOR_CONFIG.format(train=bad, eval=bad))
    out = subprocess.run([sys.executable, "-m", "easyrank.train", "--pipeline_config_path", path,
                          "--model_dir", str(tmp_path / "bad_model")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 3, out.stderr[-3000:]
    assert f"{bad} record 117" in out.stderr and "item_vector" in out.stderr, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "stack traces" not in out.stderr
