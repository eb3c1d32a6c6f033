"""The training loop's step accounting: epochs end exactly, with any steps_per_execution."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.data import count_rows
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")


def test_count_rows_skips_headers():
    config = config_lib.load_config(BASE)
    assert count_rows(config.data_config, config.train_input_path) == 200


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_epochs_train_exactly_the_batches_of_the_data(tmp_path, steps_per_execution):
    config = config_lib.load_config(BASE, edit_config_json={
        "train_config.num_epochs": 3, "train_config.steps_per_execution": steps_per_execution,
        "export_config.exporter": "NONE"})
    results = loop.train_and_evaluate(config, str(tmp_path))
    assert results["global_step"] == -(-3 * 200 // 32)  # 19: epochs are batched back to back
    assert os.path.exists(tmp_path / "ckpt-19.index")
