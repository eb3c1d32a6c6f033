"""tools/sample_quality.py: its arguments, run names, split paths and tables (no training)."""

import argparse
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import sample_quality  # noqa: E402


def test_arguments_variants_and_run_names():
    args = sample_quality.parse_args([
        "--out_dir", "/tmp/x", "--configs", "census_mlp,samples/configs/census_dlrm.config",
        "--seeds", "1,2", "--splits", "eval,test", "--variant", "shipped",
        "--variant", 'serial={"model_config.backbone.blocks[1].mask_net.parallel": false}'])
    assert args.configs == ["census_mlp", "samples/configs/census_dlrm.config"]
    assert args.seeds == [1, 2] and args.splits == ["eval", "test"] and args.metrics == []
    assert args.variant == [("shipped", {}),
                            ("serial", {"model_config.backbone.blocks[1].mask_net.parallel": False})]
    assert sample_quality.parse_args(["--out_dir", "o", "--configs", "c"]).variant == [("shipped", {})]
    assert sample_quality.run_name("census_mlp", "shipped", 7) == "census_mlp.7"
    assert sample_quality.run_name("samples/configs/census_dlrm.config", "serial", 2024) == "census_dlrm.serial.2024"
    for bad in ("a b={}", "x={not json", "x=[1]"):
        with pytest.raises(argparse.ArgumentTypeError):
            sample_quality.parse_variant(bad)
    with pytest.raises(SystemExit):  # the same variant name twice
        sample_quality.parse_args(["--out_dir", "o", "--configs", "c", "--variant", "a", "--variant", "a={}"])


def test_split_paths_sit_beside_the_training_data():
    census = sample_quality.config_path("census_mlp")
    assert census == os.path.join(ROOT, "samples", "configs", "census_mlp.config")
    assert sample_quality.split_path(census, "test") == os.path.join(ROOT, "samples/data/census/test.csv.gz")
    movielens = sample_quality.config_path("movielens_poso")
    assert os.path.exists(sample_quality.split_path(movielens, "valid"))
    assert sample_quality.split_path(movielens, "/d/x.csv") == "/d/x.csv"
    # a split named eval keeps its own file beside the training run's eval_result.json
    assert sample_quality.result_file("/m", "eval") == "/m/split_eval.json"
    assert sample_quality.result_file("/m", "/d/x.csv") == "/m/split__d_x_csv.json"


def test_tables_give_values_per_seed_mean_and_sd():
    results = [{"like/auc": 0.70, "like/gauc": 0.60, "like/auc@is_new_user=1": 0.5, "like/logloss": 0.6},
               {"like/auc": 0.72, "like/gauc": 0.64, "like/auc@is_new_user=1": 0.5, "like/logloss": 0.6}]
    assert sample_quality.default_metrics(results) == ["like/auc", "like/gauc"]
    assert sample_quality.cells([0.70, 0.72]) == ["0.7000, 0.7200", "0.7100 (sd 0.0141)"]
    assert sample_quality.cells([0.9466]) == ["0.9466", "0.9466"]
    lines = sample_quality.table("test", [("poso", results, [76577, 1234])], ["like/auc"], [1, 2])
    assert lines == ["| config (test) | like/auc (seeds 1, 2) | mean | parameters (non-embedding) |",
                     "|---|---|---:|---:|",
                     "| poso | 0.7000, 0.7200 | 0.7100 (sd 0.0141) | 76,577 (1,234) |"]
