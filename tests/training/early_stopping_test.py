"""Early stopping: patience, min_delta, direction, config errors, and a run that stops."""

import json
import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.training import early_stopping, loop
from easyrank.training.early_stopping import EarlyStopper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")


def feed(stopper, values):
    """The 1-based evaluation at which the stopper stops, or None."""
    for i, value in enumerate(values, 1):
        if stopper.update(i * 10, {"t/auc": value}):
            return i
    return None


def test_stops_after_patience_evaluations_without_improvement():
    assert feed(EarlyStopper("t/auc", True, 2, 0.0), [0.6, 0.7, 0.69, 0.7, 0.8]) == 4
    stopper = EarlyStopper("t/auc", True, 2, 0.0)
    assert feed(stopper, [0.6, 0.7, 0.69, 0.71, 0.70, 0.65]) == 6
    assert (stopper.best, stopper.best_step, stopper.stopped_step) == (0.71, 40, 60)
    summary = stopper.summary()
    assert summary["early_stopping/best_value"] == 0.71
    assert summary["early_stopping/reason"] == (
        "t/auc did not improve by more than 0 in 2 evaluation(s) after its best value 0.71 at step 40")


def test_min_delta_and_smaller_is_better():
    # Gains below 0.01 over the best value do not count with min_delta 0.01; 0.515 is one.
    assert feed(EarlyStopper("t/auc", True, 3, 0.01), [0.5, 0.505, 0.509, 0.508]) == 4
    assert feed(EarlyStopper("t/auc", True, 3, 0.01), [0.5, 0.505, 0.515, 0.52, 0.521, 0.52]) == 6
    # A loss: smaller is better.
    assert feed(EarlyStopper("t/auc", False, 1, 0.0), [0.5, 0.4, 0.3, 0.35]) == 4
    assert EarlyStopper("t/auc", True, 1, 0.0).summary() == {}


def load(**edits):
    return config_lib.load_config(BASE, edit_config_json=edits)


@pytest.mark.parametrize("edits, path, message", [
    ({"train_config.early_stopping.patience": 2}, "train_config.early_stopping.metric",
     "needs a metric"),
    ({"train_config.early_stopping.metric": "income/gauc"}, "train_config.early_stopping.metric",
     "not computed by the evaluation; choose one of income/auc"),
    ({"train_config.early_stopping.metric": "income/auc", "train_config.early_stopping.patience": 0},
     "train_config.early_stopping.patience", "patience must be >= 1"),
    ({"train_config.early_stopping.metric": "income/auc"}, "train_config.early_stopping",
     "eval_interval_steps > 0"),
])
def test_config_errors(edits, path, message):
    with pytest.raises(ConfigError, match=message) as error:
        early_stopping.build(load(**edits))
    assert error.value.path == path


def test_direction_follows_the_best_exporter_when_metric_is_unset():
    stopper = early_stopping.build(load(**{
        "export_config.exporter": "BEST", "export_config.metric": "income/auc",
        "export_config.metric_larger_is_better": False, "eval_config.eval_interval_steps": 2,
        "train_config.early_stopping.patience": 1}))
    assert stopper.metric == "income/auc" and stopper.larger_is_better is False


def test_training_stops_early_and_reports_why(tmp_path):
    # min_delta 0.5: no later evaluation can improve the first one's AUC enough.
    config = load(**{
        "train_config.num_epochs": 20, "eval_config.eval_interval_steps": 3,
        "train_config.early_stopping.metric": "income/auc",
        "train_config.early_stopping.patience": 2, "train_config.early_stopping.min_delta": 0.5,
        "export_config.exporter": "BEST", "export_config.metric": "income/auc"})
    results = loop.train_and_evaluate(config, str(tmp_path))
    assert results["global_step"] == 9  # evaluations at 3 (best), 6 and 9: stop; 20 epochs = 125
    with open(tmp_path / "eval_result.json") as f:
        written = json.load(f)
    assert written["early_stopping/stopped_at_step"] == 9
    assert written["early_stopping/best_step"] == 3
    assert written["early_stopping/reason"].startswith("income/auc did not improve by more than 0.5")
    assert [d for d in os.listdir(tmp_path / "export") if d.isdigit()]
