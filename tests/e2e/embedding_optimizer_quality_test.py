"""Row-wise embedding optimizers reach the AUC of tf_keras' dense ones on census (issue 13).

Like for like: train_config.optimizer is the same in both runs; the tables are updated by
it ("dense", use_dense_optimizer) or by its row-wise form (the default).
"""

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
        "train_config.save_checkpoints_steps": 1000, "export_config.exporter": "NONE"}, **edits))
    return loop.train_and_evaluate(config, str(model_dir))["income/auc"]


# train_config.optimizer of each comparison ({}: the sample's Adam 0.001). FTRL is not among
# them: tf_keras' FTRL replaces every weight's initial value by its first update, so an MLP
# trained by it on every weight stays symmetric (AUC 0.5 on the generated data); its tables
# are compared in docs/benchmarks.md with Adam on the dense weights.
# With the lowest AUC the dense run must reach (measured: 0.9419, 0.9024, 0.8958; an
# untrained model is at 0.5).
OPTIMIZERS = {
    "adam": ({}, 0.93),  # lazy Adam on the tables
    "adagrad": ({"train_config.optimizer.adagrad.learning_rate": 0.05}, 0.89),
    "sgd": ({"train_config.optimizer.sgd.learning_rate": 0.1}, 0.885),  # the same update
}


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_row_wise_tables_match_the_dense_optimizer_auc_on_census(tmp_path, optimizer):
    edits, floor = OPTIMIZERS[optimizer]
    dense = eval_auc(tmp_path / "dense", **edits,
                     **{"train_config.embedding_optimizer.use_dense_optimizer": True})
    rowwise = eval_auc(tmp_path / "rowwise", **edits)  # default: the row-wise form
    print(f"census AUC, {optimizer}: dense on tables {dense:.4f}, row-wise {rowwise:.4f}")
    assert dense > floor, dense
    assert abs(rowwise - dense) <= 0.002, (rowwise, dense)
