"""TFRecord end to end: train from tf.Example files, export, predict a TFRecord file."""

import csv
import os
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import tensorflow as tf

from easyrank import config as config_lib
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
