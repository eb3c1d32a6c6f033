"""The tables against a GPU's free memory (issue 27): the error names the GPU, the tables and
their sizes before training; without a GPU the check passes."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank.config import load_config
from easyrank.errors import ConfigError
from easyrank.training import gpu_memory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples/configs/census_mlp.config")


def test_tables_larger_than_a_gpu_name_the_gpu_and_the_tables():
    # 40 tables of 1000 x 8 floats, plus Adam's two slots: 40 x 96,000 bytes = 3.7 MiB.
    config = load_config(CONFIG, {"feature_configs[7].id_feature.hash_bucket_size": 2_000_000})
    gpus = [("GPU:0", "NVIDIA H100 80GB HBM3", 80 << 30), ("GPU:1", "NVIDIA H100 80GB HBM3", 1 << 20)]
    with pytest.raises(ConfigError) as error:
        gpu_memory.check_tables_fit_gpus(config, gpus)
    text = str(error.value)
    assert "GPU GPU:1 (NVIDIA H100 80GB HBM3)" in text and "0.0 GiB of memory" in text
    assert "'class_worker' 0.2 GiB" in text  # 2,000,000 x 8 x 4 bytes x 3 = 0.18 GiB
    assert "feature_configs[7].id_feature.hash_bucket_size" in text
    gpu_memory.check_tables_fit_gpus(config, gpus[:1])  # fits the empty 80 GB GPU
    # Parameter servers hold the tables: the GPUs of the workers are not asked.
    ps = load_config(CONFIG, {"feature_configs[7].id_feature.hash_bucket_size": 2_000_000,
                              "train_config.distribution.strategy": "PARAMETER_SERVER",
                              "train_config.num_steps": 10})
    gpu_memory.check_tables_fit_gpus(ps, gpus)


def test_dynamic_tables_count_their_capacity():
    from easyrank.config import validation
    config = load_config(os.path.join(ROOT, "samples/configs/movielens_din_dynamic.config"))
    tables = validation.embedding_tables(config.feature_configs)
    assert tables["user_id"][0] == 1001 and tables["user_id"][2].endswith(".dynamic.capacity")


def test_no_gpu_no_check():
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    assert gpu_memory.gpu_free_memory() == []
    gpu_memory.check_tables_fit_gpus(load_config(CONFIG))
