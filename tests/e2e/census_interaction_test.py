"""End to end for the feature-interaction samples (DCN-Mix, DCN-V2, MaskNet, FiBiNET) on census.

Each config's full run (tests/conftest.py `sample_full`: as shipped, 3 epochs, evaluated on
samples/data/census/test.csv.gz and exported; its target, 0.937 for DCN-Mix and 0.935 for the
others, is asserted in sample_targets_test.py): the results are complete and the export
reloads and scores.
"""

import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_CSV = os.path.join(ROOT, "samples", "data", "census", "test.csv.gz")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcn_mix", "dcn_v2", "masknet", "fibinet"])
def test_trains_evaluates_and_exports(name, sample_full):
    run = sample_full(f"census_{name}")  # tests/conftest.py: the full run, trained once
    results = run.after
    assert list(run.config.eval_input_path) == [TEST_CSV]
    assert results["global_step"] == 3 * 78  # 3 epochs of 79,809 rows in batches of 1024
    assert results["num_examples"] == 9977  # the whole test split
    assert np.isfinite(results["income/logloss"])
    assert os.path.exists(os.path.join(run.model_dir, "eval_result.json"))
    export_root = run.export_dir
    versions = sorted(v for v in os.listdir(export_root) if v.isdigit())
    assert versions
    model = tf.saved_model.load(os.path.join(export_root, versions[-1]))
    raw = model.signatures["raw_features"]
    spec = raw.structured_input_signature[1]
    feeds = {n: tf.constant(["x", "y"]) if s.dtype == tf.string else tf.constant([1.0, 2.0], s.dtype)
             for n, s in spec.items()}
    probs = raw(**feeds)["income/probs"].numpy()
    assert probs.shape[0] == 2 and np.all((probs >= 0) & (probs <= 1))

