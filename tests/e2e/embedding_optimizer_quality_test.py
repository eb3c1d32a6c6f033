"""Row-wise embedding optimizers reach the AUC of tf_keras' dense ones on census (issue 13)."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples", "configs", "census_mlp.config")


def eval_auc(model_dir, **edits):
    config = config_lib.load_config(CONFIG, edit_config_json=dict({
        "train_config.num_epochs": 1, "train_config.log_step_count_steps": 1000,
        "train_config.save_checkpoints_steps": 1000}, **edits))
    return loop.train_and_evaluate(config, str(model_dir))["income/auc"]


@pytest.mark.slow
def test_lazy_adam_tables_match_dense_adam_auc_on_census(tmp_path):
    dense = eval_auc(tmp_path / "dense", **{"train_config.embedding_optimizer.use_dense_optimizer": True})
    lazy = eval_auc(tmp_path / "lazy")  # default: the row-wise form of Adam
    print(f"census AUC: dense Adam on tables {dense:.4f}, lazy Adam {lazy:.4f}")
    assert dense > 0.93, dense  # an untrained model is at 0.5
    assert abs(lazy - dense) <= 0.002, (lazy, dense)
