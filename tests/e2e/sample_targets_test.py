"""Every sample config learns: a fast test on a slice, the full target in a slow one (issue 12.7).

Fast: a few dozen or hundred steps of 256 rows from the sample's own training split (60 steps
are a fifth of an epoch of census), evaluated on the first 4,096 rows of its evaluation split,
through the whole train loop (checkpoint, evaluation, export): the `sample_slice` run of
tests/conftest.py, whose export samples_export_test.py checks. Each threshold sits well above
what the same model scores before training, and the test checks that gap too: an untrained or
broken model cannot pass. Measured values are in the comments of FAST.

Slow: the config as shipped (`sample_full` in tests/conftest.py) reaches its target on the
held-out test split (census and MovieLens: test.csv.gz; the MovieLens samples' eval_input_path
is valid.csv.gz, the period between train and test, which the fast runs evaluate on).
Targets of the samples not listed here are asserted next to their other tests:
census_dcn_mix in census_interaction_test.py, census_mmoe in multitask_test.py, movielens_din
and movielens_mean_pool in movielens_din_test.py, movielens_ctcvr and movielens_esmm in
ctcvr_test.py.
"""

import os

import easyrank  # noqa: F401

# isort: split
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(ROOT, "samples", "configs")

EVAL_STEPS = 16  # x 256 rows; 0: all of the evaluation split
UNTRAINED_GAP = 0.04  # each threshold is at least this far above the untrained model's value

# config -> (steps, eval steps, {metric: threshold}). Comments: untrained -> trained value,
# measured with the config's seed on a shared 2-CPU machine; thresholds leave 0.02-0.03 below
# the trained value. The POSO samples learn slowly (0.67 after 2 epochs) and the first
# evaluation rows are the hardest, so they train 280 steps and are evaluated on the whole
# validation split.
FAST = {
    "census_mlp": (60, EVAL_STEPS, {"income/auc": 0.89}),  # 0.817 -> 0.913
    "census_dcn_mix": (60, EVAL_STEPS, {"income/auc": 0.88}),  # 0.660 -> 0.908
    "census_dcn_mix_parquet": (60, EVAL_STEPS, {"income/auc": 0.88}),  # 0.660 -> 0.908
    "census_dcn_v2": (60, EVAL_STEPS, {"income/auc": 0.88}),  # 0.708 -> 0.910
    "census_masknet": (60, EVAL_STEPS, {"income/auc": 0.90}),  # 0.697 -> 0.922
    "census_fibinet": (60, EVAL_STEPS, {"income/auc": 0.89}),  # 0.683 -> 0.913
    # income 0.477 -> 0.910, never married 0.381 -> 0.990
    "census_mmoe": (60, EVAL_STEPS, {"income/auc": 0.88, "never_married/auc": 0.96}),
    # income 0.257 -> 0.910, never married 0.771 -> 0.989
    "census_shared_bottom": (60, EVAL_STEPS, {"income/auc": 0.88, "never_married/auc": 0.96}),
    # income 0.327 -> 0.915, never married 0.619 -> 0.990
    "census_ple": (60, EVAL_STEPS, {"income/auc": 0.89, "never_married/auc": 0.96}),
    # MovieLens: evaluated on the first 4,096 rows of valid.csv.gz (issue 24).
    "movielens_din": (60, EVAL_STEPS, {"like/auc": 0.735}),  # 0.395 -> 0.760
    # like 0.606 -> 0.762. love (liked rows) 0.561 -> 0.566: 60 steps do not move it on these
    # rows, so it is asserted only in the full run (tests/e2e/ctcvr_test.py).
    "movielens_ctcvr": (60, EVAL_STEPS, {"like/auc": 0.74}),
    # like 0.606 -> 0.761, love (liked rows) 0.556 -> 0.564 (as movielens_ctcvr)
    "movielens_esmm": (60, EVAL_STEPS, {"like/auc": 0.74}),
    "movielens_mean_pool": (60, EVAL_STEPS, {"like/auc": 0.74}),  # 0.606 -> 0.762
    # like 0.507 -> 0.757, rank (pairwise, a score) 0.477 -> 0.713, listwise GAUC 0.444 -> 0.660
    "movielens_ranking": (60, EVAL_STEPS, {"like/auc": 0.73, "rank/auc": 0.69, "listwise/gauc": 0.635}),
    "census_deepfm": (60, EVAL_STEPS, {"income/auc": 0.89}),  # 0.330 -> 0.921
    "census_wide_deep": (60, EVAL_STEPS, {"income/auc": 0.89}),  # 0.265 -> 0.916
    "census_dlrm": (60, EVAL_STEPS, {"income/auc": 0.87}),  # 0.779 -> 0.900
    "movielens_bst": (60, EVAL_STEPS, {"like/auc": 0.69}),  # 0.470 -> 0.716
    "movielens_din_dynamic": (60, EVAL_STEPS, {"like/auc": 0.735}),  # 0.401 -> 0.760
    "criteo_mlp": (60, EVAL_STEPS, {"ctr/auc": 0.62}),  # 0.497 -> 0.651 (generated data)
    "movielens_features": (60, EVAL_STEPS, {"like/auc": 0.735}),  # 0.349 -> 0.762 (issue 28's kinds)
    "movielens_poso": (280, 0, {"like/auc": 0.62}),  # 0.578 -> 0.644
    "movielens_poso_baseline": (280, 0, {"like/auc": 0.62}),  # 0.579 -> 0.647
}

# config -> {metric: target on the test split} for the configs as shipped.
SLOW = {
    "census_mlp": {"income/auc": 0.935},
    "census_dcn_v2": {"income/auc": 0.935},
    "census_masknet": {"income/auc": 0.935},
    "census_fibinet": {"income/auc": 0.935},
    "census_shared_bottom": {"income/auc": 0.935, "never_married/auc": 0.985},
    "census_ple": {"income/auc": 0.935, "never_married/auc": 0.985},
    "census_dcn_mix_parquet": {"income/auc": 0.937},  # as census_dcn_mix
    # 0.7939, 0.7578 and 0.6933 in one full run (seed 2024) on train less valid, 2026-12-07
    "movielens_ranking": {"like/auc": 0.77, "rank/auc": 0.735, "listwise/gauc": 0.67},
    # Trained on train.csv.gz without the validation period (issue 24): 0.6456 and 0.6376 in one
    # full run each (seed of the config), 2026-12-07; untrained 0.50-0.57 on test.
    "movielens_poso": {"like/auc": 0.62},
    "movielens_poso_baseline": {"like/auc": 0.62},
}


def test_every_sample_config_has_fast_and_full_targets(sample_slice):
    # Retrieval samples have their targets in tests/e2e/retrieval_test.py (Recall@K, not AUC).
    names = sorted(f[:-len(".config")] for f in os.listdir(CONFIGS)
                   if f.endswith(".config") and "_retrieval" not in f)
    assert sorted(FAST) == names == sample_slice.names
    # Full targets in their own files (or benchmarks: the new blocks' rows in docs/benchmarks.md,
    # criteo_mlp's in tests/e2e/embedding_optimizer_quality_test.py and tools/embedding_benchmark.py).
    # movielens_features (issue 28's kinds): no full run in the suite (issue 23); its full-run test
    # AUC, 0.8238 (seed 2024), is in docs/benchmarks.md, "Issue 28's feature kinds on MovieLens".
    elsewhere = {"census_dcn_mix", "census_mmoe", "movielens_din", "movielens_mean_pool",
                 "movielens_ctcvr", "movielens_esmm", "census_deepfm", "census_wide_deep", "census_dlrm",
                 "movielens_bst", "movielens_din_dynamic", "criteo_mlp", "movielens_features"}
    assert sorted(set(SLOW) | elsewhere) == names


@pytest.mark.parametrize("name", sorted(FAST))
def test_sample_learns_on_a_slice(name, sample_slice):
    run = sample_slice(name)  # tests/conftest.py: trained once, shared with samples_export_test
    steps, eval_steps, thresholds = FAST[name]
    before, after = run.before, run.after
    assert (run.steps, run.eval_steps) == (steps, eval_steps)
    assert after["global_step"] == steps and before["num_examples"] == after["num_examples"]
    assert after["num_examples"] == eval_steps * 256 or not eval_steps
    print(name, {k: (round(before[k], 4), round(after[k], 4)) for k in thresholds})
    for metric, threshold in thresholds.items():
        assert after[metric] >= threshold, (metric, after)
        assert before[metric] <= threshold - UNTRAINED_GAP, (metric, before)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_sample_reaches_its_target_on_the_test_split(name, sample_full):
    # tests/conftest.py: the config as shipped, trained once, evaluated on the test split.
    results = sample_full(name).results
    print(name, {k: round(results[k], 4) for k in SLOW[name]})
    for metric, target in SLOW[name].items():
        assert results[metric] >= target, (metric, results)
