"""Embedding tables larger than the run's memory stop before training (issue 13)."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.config import validation
from easyrank.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITEO = os.path.join(ROOT, "samples", "configs", "criteo_mlp.config")
C26 = "feature_configs[38].id_feature"


def test_table_sizes_with_their_slots_are_checked_against_memory():
    config = config_lib.load_config(CRITEO, {f"{C26}.hash_bucket_size": 10 ** 8})
    # 10^8 x 16 x 4 bytes x (1 + 2 lazy Adam slots) = 17.9 GiB for C26 alone.
    with pytest.raises(ConfigError) as error:
        validation.validate_embedding_tables(config, memory_bytes=16 * 2 ** 30)
    message = str(error.value)
    assert error.value.path == f"{C26}.hash_bucket_size"
    assert "'C26': 100,000,000 rows x 16" in message and "16.0 GiB" in message
    assert "row-wise adam, 2 slots" in message
    # Row-wise Adagrad keeps one float per row: the same tables fit.
    config.train_config.embedding_optimizer.rowwise_adagrad.learning_rate = 0.05
    validation.validate_embedding_tables(config, memory_bytes=16 * 2 ** 30)


def test_embedding_optimizer_learning_rate_must_be_positive():
    with pytest.raises(ConfigError) as error:
        config_lib.load_config(CRITEO, {
            "train_config.embedding_optimizer.rowwise_adagrad.learning_rate": 0.0})
    assert error.value.path == "train_config.embedding_optimizer.rowwise_adagrad.learning_rate"
