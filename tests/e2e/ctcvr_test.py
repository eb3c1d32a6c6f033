"""The CTR + CVR case on MovieLens (samples/configs/movielens_ctcvr.config and movielens_esmm.config):
the conversion task ("love", rating 5) is trained and evaluated on clicked ("liked") rows only."""

import gzip
import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.evaluation import evaluator, metrics
from easyrank.training import loop, model_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "tests", "data", "movielens_tiny.csv")
TEST = os.path.join(ROOT, "samples", "data", "movielens", "test.csv.gz")


def _config(name, **edits):
    return config_lib.load_config(os.path.join(ROOT, "samples", "configs", f"{name}.config"), edits)


def test_love_task_counts_liked_rows_only(tmp_path):
    config = _config("movielens_ctcvr", train_input_path=[TINY], eval_input_path=[TINY],
                     **{"train_config.num_steps": 5, "data_config.batch_size": 64,
                        "export_config.exporter": "NONE"})
    results = loop.train_and_evaluate(config, str(tmp_path))
    with open(TINY, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        rows = [line.rstrip("\n").split(",") for line in f]
    liked = np.array([float(r[header.index("label")]) for r in rows]) > 0.5
    loved = np.array([float(r[header.index("rating")]) for r in rows]) >= 5
    assert results["love/num_examples"] == int(liked.sum()) < results["num_examples"] == len(rows)
    model = model_state.single_device_model(config, tf.train.latest_checkpoint(str(tmp_path)))
    collected = evaluator.collect_predictions(model, evaluator.eval_dataset(config), list(config.model_config.tasks))
    expected = metrics.auc(loved[liked], collected["love/probs"][liked])
    assert results["love/auc"] == pytest.approx(expected)
    # The loss of the love task on a batch whose rows are all unliked is 0: no gradient reaches it.
    features, targets = next(iter(evaluator.eval_dataset(config)))
    targets = dict(targets, label=tf.zeros_like(targets["label"]))
    _, per_task = model.compute_total_loss(model(features), targets, features)
    assert float(per_task["love"]) == 0.0 and float(per_task["like"]) > 0.0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["movielens_ctcvr", "movielens_esmm"])
def test_funnel_samples_evaluate_love_on_the_liked_test_rows(name, sample_full):
    # tests/conftest.py: as shipped (one epoch of train.csv.gz), evaluated on the test split; the
    # like and love targets are asserted in sample_targets_test.py.
    run = sample_full(name)
    assert list(run.config.eval_input_path) == [TEST]
    with gzip.open(TEST, "rt") as f:
        header = f.readline().strip().split(",")
        liked = sum(float(line.split(",")[header.index("label")]) > 0.5 for line in f)
    assert run.after["love/num_examples"] == run.before["love/num_examples"] == liked
    assert run.after["num_examples"] > liked
