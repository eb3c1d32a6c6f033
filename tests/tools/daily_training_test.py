"""The daily MovieLens sample end to end: time slices, continue, warm start and scratch runs."""

import csv
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import daily_training  # noqa: E402

UNTRAINED_GAP = 0.04  # a trained day must beat the untrained model by this much (AUC)


def untrained_auc(config_path, eval_path):
    """like/auc of the config's model as training initialises it (same seed), not trained."""
    import easyrank  # noqa: F401

    # isort: split
    import tf_keras

    from easyrank import config as config_lib
    from easyrank.evaluation import evaluator
    from easyrank.training import model_state, strategies
    config = config_lib.load_config(config_path, {"eval_input_path": [eval_path]})
    tf_keras.utils.set_random_seed(config.train_config.seed)
    model, _ = model_state.create_model(config, strategies.build_strategy(config.train_config))
    results = evaluator.evaluate_model(model, evaluator.eval_dataset(config), config,
                                       config.eval_config.num_eval_steps)
    return results[daily_training.METRIC]


def test_slices_are_consecutive_in_time_and_equal_in_size(tmp_path):
    slices = daily_training.write_slices(os.path.join(daily_training.DATA, "train.csv.gz"),
                                         str(tmp_path), 3, max_rows=3000)
    assert [s["rows"] for s in slices] == [1000, 1000, 1000]
    assert slices[0]["to"] <= slices[1]["from"] <= slices[1]["to"] <= slices[2]["from"]
    with open(slices[1]["path"]) as f:
        rows = list(csv.DictReader(f))
    times = [int(r["timestamp"]) for r in rows]
    assert times == sorted(times) and len(rows) == 1000


@pytest.mark.slow
def test_daily_loop_continues_warm_starts_and_beats_chance(tmp_path):
    work_dir = str(tmp_path / "daily")
    config = os.path.join(ROOT, "samples", "configs", "movielens_mean_pool.config")
    report = daily_training.run(
        config, work_dir,
        num_slices=2, modes=["continue", "warm_start", "scratch"], max_rows=4096,
        edits={"export_config.exporter": "NONE"})  # no day's export is read
    day0, day1 = report["days"]
    steps = 2048 // 256  # rows of a slice / batch_size
    assert day0["continue"]["global_step"] == steps
    # continue keeps the global step; warm start and scratch start at 0.
    assert day1["continue"]["global_step"] == 2 * steps
    assert day1["warm_start"]["global_step"] == steps and day1["scratch"]["global_step"] == steps
    # Day 1 evaluates on the test split; the untrained model scores about 0.70 there, not 0.5.
    before = untrained_auc(config, os.path.join(daily_training.DATA, "test.csv.gz"))
    for mode in ("continue", "warm_start", "scratch"):
        assert day1[mode]["like/auc"] >= before + UNTRAINED_GAP, (mode, before, day1[mode])
    with open(os.path.join(work_dir, "continue_day1.log")) as f:
        assert "Input: continuing at step 8 on new data" in f.read()
    with open(os.path.join(work_dir, "warm_start_day1.log")) as f:
        assert "variables restored" in f.read()
    assert "| 1 | 2048 | test |" in daily_training.table(report)
