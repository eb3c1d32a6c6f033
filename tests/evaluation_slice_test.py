"""Slice metrics ("<task>/<metric>@<field>=<value>") and their config checks."""

import os

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import numpy as np
import pytest
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.evaluation import evaluator, metrics
from easyrank.protos import model_pb2

BASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "base.config")


def _task(text):
    return text_format.Parse('name: "ctr" label: "y" ' + text, model_pb2.TaskConfig())


def _collected():
    rng = np.random.default_rng(3)
    n = 400
    return {
        "ctr/probs": rng.uniform(size=n).astype(np.float32),
        "y": (rng.uniform(size=n) < 0.4).astype(np.float32),
        "is_new": rng.integers(0, 2, size=n),
        "bucket": rng.integers(0, 3, size=n).astype(np.float32),
        "country": np.array([b"de", b"fr"] * (n // 2), dtype=object),
        "user": rng.integers(0, 20, size=n),
    }


def test_slices_equal_metrics_on_the_row_subsets():
    c = _collected()
    task = _task('metrics: [AUC, LOGLOSS, GAUC] group_field: "user" '
                 'slices { field: "is_new" value: "1" } slices { field: "bucket" value: "2" } '
                 'slices { field: "country" value: "fr" }')
    results = evaluator.compute_metrics([task], c)
    for key, rows in [("is_new=1", c["is_new"] == 1), ("bucket=2", c["bucket"] == 2.0),
                      ("country=fr", c["country"] == b"fr")]:
        y, p = c["y"][rows], c["ctr/probs"][rows]
        assert results[f"ctr/auc@{key}"] == pytest.approx(metrics.auc(y, p))
        assert results[f"ctr/logloss@{key}"] == pytest.approx(metrics.logloss(y, p))
        assert results[f"ctr/gauc@{key}"] == pytest.approx(metrics.gauc(y, p, c["user"][rows]))
        assert results[f"ctr/num_examples@{key}"] == rows.sum() > 0
    assert results["ctr/auc"] == pytest.approx(metrics.auc(c["y"], c["ctr/probs"]))
    assert results["ctr/auc@is_new=1"] != pytest.approx(results["ctr/auc"])


def test_empty_or_one_class_slice_gives_nan():
    c = _collected()
    results = evaluator.compute_metrics(
        [_task('metrics: [AUC] slices { field: "bucket" value: "7" }')], c)
    assert np.isnan(results["ctr/auc@bucket=7"]) and results["ctr/num_examples@bucket=7"] == 0
    c["y"][c["is_new"] == 1] = 1.0
    results = evaluator.compute_metrics(
        [_task('metrics: [AUC] slices { field: "is_new" value: "1" }')], c)
    assert np.isnan(results["ctr/auc@is_new=1"])


def test_extra_fields_collects_slice_and_group_fields():
    config = config_lib.load_config(BASE, edit_config_json={
        "model_config.tasks[0].slices": [{"field": "sex", "value": "Male"}]})
    assert evaluator.extra_fields(config) == ["sex"]


@pytest.mark.parametrize("piece, path, fragment", [
    ({"field": "nope", "value": "1"}, ".field", "not a non-label input field"),
    ({"field": "income_gt_50k", "value": "1"}, ".field", "not a non-label input field"),
    ({"field": "age"}, ".value", "set the value"),
    ({"field": "age", "value": "old"}, ".value", "is not a number"),
])
def test_bad_slices_are_config_errors(piece, path, fragment):
    with pytest.raises(ConfigError, match=fragment) as caught:
        config_lib.load_config(BASE, edit_config_json={"model_config.tasks[0].slices": [piece]})
    assert caught.value.path == "model_config.tasks[0].slices[0]" + path


def test_output_index_and_output_name_together_is_an_error():
    with pytest.raises(ConfigError, match="not both") as caught:
        config_lib.load_config(BASE, edit_config_json={
            "model_config.tasks[0].input": {"block": "deep", "output_index": 0, "output_name": "a"}})
    assert caught.value.path == "model_config.tasks[0].input.output_name"
