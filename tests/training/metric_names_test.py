"""Early stopping, export_config.metric and the evaluator name metrics with one function
(issue 24: early stopping refused "income/ne", which the evaluator reports)."""

import easyrank  # noqa: F401

# isort: split
import os

import numpy as np
import pytest

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.evaluation.evaluator import compute_metrics
from easyrank.models.heads import prediction_key
from easyrank.protos.metric_names import metric_keys
from easyrank.training import early_stopping

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")
EDITS = {"model_config.tasks[0].metrics": ["AUC", "NORMALIZED_ENTROPY", "CALIBRATION", "LOGLOSS"],
         "eval_config.eval_interval_steps": 2, "train_config.early_stopping.patience": 1}


def test_evaluator_reports_exactly_the_keys_early_stopping_accepts():
    config = config_lib.load_config(BASE, edit_config_json=EDITS)
    task = config.model_config.tasks[0]
    rng = np.random.default_rng(0)
    collected = {prediction_key(task): rng.uniform(0.01, 0.99, 50).astype(np.float32),
                 task.label: rng.integers(0, 2, 50).astype(np.float32)}
    reported = set(compute_metrics(config.model_config.tasks, collected))
    assert reported == {"income/auc", "income/ne", "income/calibration", "income/logloss"}
    assert reported <= metric_keys(config.model_config.tasks)
    for key in sorted(reported):
        stopper = early_stopping.build(config_lib.load_config(
            BASE, edit_config_json=dict(EDITS, **{"train_config.early_stopping.metric": key})))
        assert stopper.metric == key


def test_unknown_metric_is_refused_with_the_known_keys():
    config = config_lib.load_config(BASE, edit_config_json=dict(
        EDITS, **{"train_config.early_stopping.metric": "income/normalized_entropy"}))
    with pytest.raises(ConfigError, match="'income/normalized_entropy' is not computed by the evaluation; "
                       "choose one of income/auc, income/calibration, income/logloss, income/ne,"):
        early_stopping.build(config)
