"""End to end: census MMoE / shared-bottom (two tasks) and MovieLens POSO with slice metrics."""

import csv
import json
import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.data import build_dataset
from easyrank.errors import ConfigError
from easyrank.training import loop, model_state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(ROOT, "samples", "configs")
CENSUS_TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")
MOVIELENS_TINY = os.path.join(ROOT, "tests", "data", "movielens_tiny.csv")
CENSUS_TEST = os.path.join(ROOT, "samples", "data", "census", "test.csv.gz")


def _tiny(name, data, steps, **edits):
    return config_lib.load_config(os.path.join(CONFIGS, name), edit_config_json={
        "train_input_path": [data], "eval_input_path": [data], "data_config.batch_size": 50,
        "train_config.num_steps": steps, "train_config.save_checkpoints_steps": steps,
        "train_config.log_step_count_steps": steps, "train_config.num_epochs": 1000, **edits})


@pytest.fixture(scope="module")
def census_mmoe(sample_full):
    """tests/conftest.py's full run of census_mmoe: as shipped (3 epochs), evaluated on the test
    split and exported; its targets are asserted in sample_targets_test.py."""
    run = sample_full("census_mmoe")
    return run.config, run.model_dir, run.after


@pytest.mark.slow
def test_mmoe_reports_metrics_per_task(census_mmoe):
    config, model_dir, results = census_mmoe
    assert list(config.eval_input_path) == [CENSUS_TEST]
    with open(os.path.join(model_dir, "eval_result.json")) as f:
        written = json.load(f)
    assert written["global_step"] == 3 * 156  # 3 epochs of 79,809 rows in batches of 512
    assert set(written) >= {"income/auc", "income/logloss", "never_married/auc",
                            "never_married/logloss"}
    assert written["never_married/auc"] == pytest.approx(results["never_married/auc"])
    # Far above chance (0.5) for both tasks (the targets: sample_targets_test.py).
    assert written["income/auc"] > 0.8 and written["never_married/auc"] > 0.9


@pytest.mark.slow
def test_mmoe_export_has_outputs_per_task(census_mmoe):
    _, model_dir, _ = census_mmoe
    base = os.path.join(model_dir, "export")
    [version] = [d for d in os.listdir(base) if d.isdigit()]
    loaded = tf.saved_model.load(os.path.join(base, version))
    raw = loaded.signatures["raw_features"]
    with open(CENSUS_TINY) as f:
        rows = list(csv.DictReader(f))[:8]
    inputs = {n: tf.constant([r[n] for r in rows]) if s.dtype == tf.string
              else tf.constant([float(r[n]) for r in rows], s.dtype)
              for n, s in raw.structured_input_signature[1].items()}
    outputs = raw(**inputs)
    assert set(outputs) >= {"income/probs", "income/logits", "never_married/probs",
                            "never_married/logits"}
    probs = outputs["never_married/probs"].numpy()
    assert probs.shape == (8,) and np.all((probs > 0) & (probs < 1))
    assert not np.allclose(probs, outputs["income/probs"].numpy())


def test_shared_bottom_config_builds_two_heads_on_one_expert():
    config = _tiny("census_shared_bottom.config", CENSUS_TINY, 1)
    model = model_state.create_model(config, tf.distribute.get_strategy())[0]
    mmoe = model.backbone.block_layers["bottom"]
    assert mmoe.get_config()["num_experts"] == 1 and mmoe.gates is None
    data = next(iter(build_dataset(config.data_config, [CENSUS_TINY], training=False,
                                   batch_size=4)))[0]
    outputs = model(data)
    assert outputs["income/probs"].shape == (4,) and outputs["never_married/probs"].shape == (4,)


def test_poso_sample_reports_slice_metrics(tmp_path):
    config = _tiny("movielens_poso.config", MOVIELENS_TINY, 20, **{"export_config.exporter": "NONE"})
    results = loop.train_and_evaluate(config, str(tmp_path))
    with open(MOVIELENS_TINY) as f:
        rows = list(csv.DictReader(f))
    new = [r for r in rows if r["is_new_user"] == "1"]
    assert results["like/num_examples@is_new_user=1"] == len(new) > 0
    assert results["like/num_examples@is_new_user=0"] == len(rows) - len(new)
    assert 0 <= results["like/auc@is_new_user=1"] <= 1
    assert set(results) >= {"like/auc", "like/gauc", "like/logloss@user_activity_bucket=2"}


def model_layer(config):
    return config.model_config.backbone.blocks[0].WhichOneof("layer")


def test_poso_baseline_is_the_same_mlp_without_gates():
    poso = config_lib.load_config(os.path.join(CONFIGS, "movielens_poso.config"))
    base = config_lib.load_config(os.path.join(CONFIGS, "movielens_poso_baseline.config"))
    assert model_layer(poso) == "poso" and model_layer(base) == "mlp"
    assert (list(poso.model_config.backbone.blocks[0].poso.hidden_units)
            == list(base.model_config.backbone.blocks[0].mlp.hidden_units))
    assert list(poso.feature_configs) == list(base.feature_configs)
    assert list(poso.model_config.tasks) == list(base.model_config.tasks)


@pytest.mark.parametrize("task_input, path, fragment", [
    ({"block": "mmoe"}, "model_config.tasks[0].input", "pick one with input"),
    ({"block": "mmoe", "output_name": "salary"}, "model_config.tasks[0].input.output_name",
     "its outputs are income, never_married"),
])
def test_task_must_select_one_mmoe_output(task_input, path, fragment):
    config = config_lib.load_config(os.path.join(CONFIGS, "census_mmoe.config"))
    config.model_config.tasks[0].input.Clear()
    for key, value in task_input.items():
        setattr(config.model_config.tasks[0].input, key, value)
    with pytest.raises(ConfigError, match=fragment) as caught:
        model_state.create_model(config, tf.distribute.get_strategy())
    assert caught.value.path == path
