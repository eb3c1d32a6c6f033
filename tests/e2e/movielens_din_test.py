"""End to end on MovieLens: DIN and mean pooling over behaviour histories, export, fresh-process serving."""

import json
import os
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest

from easyrank import config as config_lib
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIN_CONFIG = os.path.join(ROOT, "samples", "configs", "movielens_din.config")
MEAN_POOL_CONFIG = os.path.join(ROOT, "samples", "configs", "movielens_mean_pool.config")
TINY = os.path.join(ROOT, "tests", "data", "movielens_tiny.csv")

# Loads an export without easyrank; scores users with an empty and a long history
# through serving_default (tf.Example bytes_list histories) and raw_features
# (";"-joined strings, the CSV form).
FRESH_PROCESS = r'''
import json, sys
import tensorflow as tf
assert "easyrank" not in sys.modules
model = tf.saved_model.load(sys.argv[1])
long_ids = [str(i) for i in range(1, 81)]          # 80 > max_len 50
genres = ["Drama", "Comedy", "Action", "Crime"]
long_genres = [genres[i % 4] for i in range(80)]
long_ratings = ["%.1f" % (1 + i % 9 / 2) for i in range(80)]
HISTORY = ("hist_movie_id", "hist_genre", "hist_rating")
rows = [
    dict(zip(HISTORY, ([], [], []))),                                # a new user
    dict(zip(HISTORY, (long_ids, long_genres, long_ratings))),       # a long history
    dict(zip(HISTORY, (long_ids[-50:], long_genres[-50:], long_ratings[-50:]))),  # its last 50
]
common = {"user_id": "999999", "movie_id": "318", "genres": "Crime|Drama", "first_genre": "Crime",
          "user_activity_bucket": "0", "movie_rating_level": "4.5"}
numbers = {"year": 1994.0, "user_mean_rating": 3.5, "user_pos_rate": 0.5, "movie_num_ratings": 100.0,
           "movie_pos_rate": 0.9}
def example(row, with_history=True):
    f = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in common.items()}
    f.update({k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for k, v in numbers.items()})
    if with_history:
        for k in HISTORY:
            f[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode() for v in row[k]]))
    return tf.train.Example(features=tf.train.Features(feature=f)).SerializeToString()
serialized = [example(r) for r in rows] + [example(rows[0], with_history=False)]
a = model.signatures["serving_default"](examples=tf.constant(serialized))
raw = {k: tf.constant([v] * len(rows)) for k, v in common.items()}
raw.update({k: tf.constant([v] * len(rows)) for k, v in numbers.items()})
for k in HISTORY:
    raw[k] = tf.constant([";".join(r[k]) for r in rows])
b = model.signatures["raw_features"](**raw)
print(json.dumps({"examples": a["like/probs"].numpy().reshape(-1).tolist(),
                  "raw": b["like/probs"].numpy().reshape(-1).tolist()}))
'''


def tiny_config(path, **edits):
    edits = {"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 32,
             "train_config.num_epochs": 4, "train_config.save_checkpoints_steps": 100,
             "train_config.optimizer.adam.learning_rate": 0.003, **edits}
    return config_lib.load_config(path, edit_config_json=edits)


@pytest.fixture(scope="module")
def trained_din(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("movielens_din"))
    results = loop.train_and_evaluate(tiny_config(DIN_CONFIG), model_dir)
    return model_dir, results


def test_din_trains_on_the_tiny_slice(trained_din):
    _, results = trained_din
    # Evaluated on its own 200 training rows: an untrained model scores about 0.5.
    assert results["like/auc"] > 0.8 and results["like/gauc"] > 0.7
    assert np.isfinite(results["like/logloss"])


def test_mean_pool_sample_trains(tmp_path):
    config = tiny_config(MEAN_POOL_CONFIG, **{"export_config.exporter": "NONE"})
    results = loop.train_and_evaluate(config, str(tmp_path))
    assert results["like/auc"] > 0.8


def test_export_scores_empty_and_long_histories_in_a_fresh_process(trained_din, tmp_path):
    model_dir, _ = trained_din
    export_base = os.path.join(model_dir, "export")
    version_dir = os.path.join(export_base, max(d for d in os.listdir(export_base) if d.isdigit()))
    script = tmp_path / "load.py"
    script.write_text(FRESH_PROCESS)
    out = subprocess.run([sys.executable, str(script), version_dir], capture_output=True, text=True,
                         timeout=300, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    scores = json.loads(out.stdout.strip().splitlines()[-1])
    examples, raw = np.array(scores["examples"]), np.array(scores["raw"])
    assert np.all((examples > 0) & (examples < 1))
    # tf.Example lists and joined strings give the same scores.
    np.testing.assert_allclose(examples[:3], raw, rtol=1e-5, atol=1e-7)
    # A missing history is an empty one; only the most recent 50 items count.
    assert examples[3] == pytest.approx(examples[0], abs=1e-7)
    assert examples[1] == pytest.approx(examples[2], abs=1e-7)
    assert abs(examples[1] - examples[0]) > 1e-6  # the history matters


@pytest.fixture(scope="module")
def full_runs(sample_full):
    """tests/conftest.py: the configs as shipped, trained once, evaluated on the test split (their
    targets are asserted in sample_targets_test.py)."""
    return {name: sample_full(sample).results for name, sample in (("din", "movielens_din"),
                                                                    ("mean", "movielens_mean_pool"))}


@pytest.mark.slow
def test_din_reaches_the_issue_target_level_with_mean_pooling(full_runs):
    din, mean = full_runs["din"], full_runs["mean"]
    assert din["like/auc"] >= 0.70
    # Chosen on the validation split, DIN and mean pooling are level (docs/benchmarks.md, "DIN
    # on MovieLens"): on test DIN leads by 0.0016 AUC and trails by 0.0016 GAUC (means of seeds
    # 2024 and 1). A DIN that falls clearly behind is a regression.
    assert din["like/auc"] > mean["like/auc"] - 0.005
    assert din["like/gauc"] > mean["like/gauc"] - 0.005
