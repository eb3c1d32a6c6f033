"""Parquet with list columns end to end: train, evaluate and predict (CLIs) on MovieLens histories.

The tag and sequence features read list<string> columns natively (tools/convert_to_parquet.py
writes them); the scores of `python -m easyrank.predict` on the Parquet file must equal those
of the export's serving_default signature on tf.Example records built from the CSV rows.
"""

import csv
import json
import os
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples", "configs", "movielens_din.config")
TINY = os.path.join(ROOT, "tests", "data", "movielens_tiny.csv")
sys.path.insert(0, os.path.join(ROOT, "tools"))

import convert_to_parquet  # noqa: E402

LISTS = {"genres": "|", "hist_movie_id": ";", "hist_genre": ";", "hist_rating": ";"}


def run_cli(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parquet_lists")
    csv_config = config_lib.load_config(CONFIG)
    path, = convert_to_parquet.convert(csv_config, [TINY], str(tmp / "parquet"), row_group_size=64)
    config_path = str(tmp / "movielens_din_parquet.config")
    text = open(CONFIG).read().replace("format: CSV", "format: PARQUET").replace(
        'input_fields { name: "genres" type: STRING }', 'input_fields { name: "genres" type: STRING is_list: true }')
    with open(config_path, "w") as f:
        f.write(text)
    config = config_lib.load_config(config_path, edit_config_json={
        "train_input_path": [path], "eval_input_path": [path], "data_config.batch_size": 32,
        "train_config.num_epochs": 5, "train_config.num_steps": 30, "train_config.save_checkpoints_steps": 30,
        "eval_config.eval_interval_steps": 0})
    model_dir = str(tmp / "model")
    results = loop.train_and_evaluate(config, model_dir)
    return config_path, path, model_dir, results, tmp


def test_the_parquet_file_holds_lists(trained):
    _, path, _, _, _ = trained
    table = pq.read_table(path)
    with open(TINY) as f:
        rows = list(csv.DictReader(f))
    assert table.num_rows == len(rows) == 200
    for name, separator in LISTS.items():
        assert table.schema.field(name).type.value_type == pa.string()
        expected = [[v for v in row[name].split(separator) if v] for row in rows]
        assert table.column(name).to_pylist() == expected
    assert sum(len(v) for v in table.column("hist_movie_id").to_pylist()) > 1000  # real histories


def test_evaluate_cli_on_parquet(trained):
    config_path, path, model_dir, results, tmp = trained
    output = str(tmp / "metrics.json")
    out = run_cli("easyrank.evaluate", "--pipeline_config_path", config_path, "--model_dir", model_dir,
                  "--eval_input_path", path, "--output_path", output)
    assert out.returncode == 0, out.stderr[-3000:]
    with open(output) as f:
        metrics = json.load(f)
    assert metrics["num_examples"] == 200 and metrics["global_step"] == 30
    assert metrics["like/auc"] == pytest.approx(results["like/auc"], abs=1e-6)


def test_predict_cli_on_parquet_with_lists_matches_serving_default(trained):
    _, path, model_dir, _, tmp = trained
    export = os.path.join(model_dir, "export")
    scores = str(tmp / "scores.csv")
    unlabelled = str(tmp / "unlabelled.parquet")
    pq.write_table(pq.read_table(path).drop_columns(["label"]), unlabelled, row_group_size=64)
    predicted = {}
    for name, data in (("labelled", path), ("unlabelled", unlabelled)):
        out = run_cli("easyrank.predict", "--saved_model_dir", export, "--input_path", data,
                      "--output_path", scores, "--batch_size", "48")
        assert out.returncode == 0, out.stderr[-3000:]
        with open(scores) as f:
            header = f.readline().strip().split(",")
        predicted[name] = np.loadtxt(scores, delimiter=",", skiprows=1)
        assert predicted[name].shape == (200, len(header))
    np.testing.assert_array_equal(predicted["labelled"], predicted["unlabelled"])
    probs = predicted["labelled"][:, header.index("like/probs")]
    assert 0 < probs.min() < probs.max() < 1

    # The same rows as tf.Example (lists as bytes_list), scored by serving_default.
    with open(TINY) as f:
        rows = list(csv.DictReader(f))
    version = os.path.join(export, max(d for d in os.listdir(export) if d.isdigit()))
    fields = {f.name: f for f in config_lib.load_config(trained[0]).data_config.input_fields}
    examples = []
    for row in rows:
        feature = {}
        for name, field in fields.items():
            if name == "label":
                continue
            if name in LISTS:
                values = [v.encode() for v in row[name].split(LISTS[name]) if v]
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
            elif field.type == field.FLOAT:
                if row[name] == "":
                    continue  # absent: the field's default
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(row[name])]))
            else:
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[row[name].encode()]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    serving = tf.saved_model.load(version).signatures["serving_default"]
    reference = serving(examples=tf.constant(examples))["like/probs"].numpy().reshape(-1)
    np.testing.assert_allclose(probs, reference, rtol=1e-5, atol=1e-6)
