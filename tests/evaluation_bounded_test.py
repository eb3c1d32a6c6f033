"""Bounded-memory metrics (sorted runs on disk, merged) equal the in-memory ones."""

import os

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import numpy as np
import pytest
from google.protobuf import text_format

from easyrank.evaluation import bounded, evaluator, external_sort, metrics, streaming
from easyrank.protos import model_pb2, pipeline_pb2


def _close(got, want):
    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def _random(seed, n, groups=37, string_groups=False):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(n), 2).astype(np.float32)  # many ties, within and across groups
    labels = (rng.random(n) < 0.3 + 0.4 * scores).astype(np.float32)
    group = rng.integers(0, groups, n)
    group[: n // 10] = 3  # one group spans many runs and blocks
    if string_groups:
        group = np.array([f"user{g}".encode() for g in group], dtype=object)
    weights = rng.uniform(0.1, 2.0, n)
    return labels, scores, group, weights


@pytest.mark.parametrize("seed,chunk", [(0, 1024), (1, 1500), (2, 5000)])
def test_auc_gauc_top_k_equal_in_memory_with_ties_groups_weights(seed, chunk, tmp_path):
    n = 20000
    labels, scores, groups, weights = _random(seed, n, string_groups=seed == 1)
    auc = streaming.AucSpill(chunk, str(tmp_path))
    grouped = streaming.GroupSpill(chunk, 3, str(tmp_path))
    for start in range(0, n, 777):  # batches that do not line up with the runs
        part = slice(start, start + 777)
        auc.add(labels[part], scores[part], weights[part])
        grouped.add(labels[part], scores[part], groups[part], weights[part])
    assert auc.spill.num_runs >= n // (chunk + 777) >= 3 and grouped.spill.num_runs >= 3
    assert auc.result() == pytest.approx(metrics.auc(labels, scores, weights), rel=1e-9)
    gauc, precision, recall = grouped.result()
    assert gauc == pytest.approx(metrics.gauc(labels, scores, groups, weights), rel=1e-9)
    assert precision == pytest.approx(metrics.precision_at_k(labels, scores, groups, 3), rel=1e-9)
    assert recall == pytest.approx(metrics.recall_at_k(labels, scores, groups, 3), rel=1e-9)
    assert os.listdir(tmp_path) == []  # the runs are deleted


def test_merge_passes_beyond_the_fan_in(tmp_path, monkeypatch):
    monkeypatch.setattr(external_sort, "MAX_FAN_IN", 4)
    rng = np.random.default_rng(5)
    values = np.round(rng.normal(size=30000), 1)  # negatives, zeros and ties
    spill = external_sort.SortedSpill(streaming.AUC_DTYPE, 1024, str(tmp_path))
    for start in range(0, len(values), 1000):
        part = values[start:start + 1000]
        records = np.zeros(len(part), streaming.AUC_DTYPE)
        records["key"] = external_sort.pack_keys(external_sort.float_key(part))
        records["pos"] = part
        spill.add(records)
    merged = np.concatenate(list(spill.merged()))
    spill.close()
    np.testing.assert_array_equal(merged["pos"], np.sort(values))


def test_float_key_orders_like_the_floats():
    values = np.array([3.5, -0.0, 0.0, -2.0, np.inf, -np.inf, 1e-300, -1e-300, np.nan])
    keys = external_sort.float_key(values)
    order = np.argsort(keys, kind="stable")
    assert list(values[order][:-1]) == sorted(values[:-1].tolist())
    assert np.isnan(values[order][-1])
    assert keys[1] == keys[2]  # -0.0 ties with 0.0, as np.unique has it


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_when_a_group_straddles_blocks(k):
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1], np.uint8)
    groups = np.array([[0, 1]] * 7 + [[0, 2]] * 2, np.uint64)
    whole = streaming.TopK(k)
    whole.add(groups, labels, final=True)
    split = streaming.TopK(k)
    for start in range(0, 9, 2):
        split.add(groups[start:start + 2], labels[start:start + 2])
    split.add(np.zeros((0, 2), np.uint64), np.zeros(0, np.uint8), final=True)
    assert split.precision_at_k() == pytest.approx(whole.precision_at_k())
    assert split.recall_at_k() == pytest.approx(whole.recall_at_k())


def _tasks():
    text = """
      tasks { name: "ctr" label: "y" metrics: [AUC, GAUC, PRECISION_AT_K, RECALL_AT_K, LOGLOSS,
              ACCURACY, CALIBRATION, NORMALIZED_ENTROPY, MSE, MAE] group_field: "user" top_k: 2
              sample_weight_field: "w" slices { field: "is_new" value: "1" }
              slices { field: "is_new" value: "7" } }
      tasks { name: "cvr" label: "z" metrics: [AUC, LOGLOSS] mask_field: "y" }
      tasks { name: "cls" label: "c" loss: SOFTMAX_CROSS_ENTROPY num_classes: 3
              metrics: [AUC, LOGLOSS, ACCURACY] }
    """
    return list(text_format.Parse(text, model_pb2.ModelConfig()).tasks)


def _batches(n, seed=7):
    rng = np.random.default_rng(seed)
    labels, scores, groups, weights = _random(seed, n)
    probs = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    out = []
    for start in range(0, n, 500):
        part = slice(start, start + 500)
        out.append({"ctr/probs": scores[part], "y": labels[part], "user": groups[part],
                    "w": weights[part], "is_new": (groups[part] % 2),
                    "cvr/probs": scores[part][::-1].copy(), "z": labels[part][::-1].copy(),
                    "cls/probs": probs[part], "c": rng.integers(0, 3, len(probs[part]))})
    return out


def test_every_metric_of_a_pass_equals_the_in_memory_pass(tmp_path):
    tasks, batches = _tasks(), _batches(12000)
    want = evaluator.compute_metrics(tasks, evaluator._concatenate(batches))
    sink = bounded.BoundedEvaluation(1024, str(tmp_path))
    for batch in batches:
        sink.start_batch(500)
        evaluator.feed_tasks(tasks, batch, None, sink)
    got = sink.results()
    assert got["ctr/num_examples@is_new=7"] == 0 and np.isnan(got["ctr/auc@is_new=7"])
    _close(got, want)


def test_evaluate_batches_switches_to_bounded_memory_past_the_limit(tmp_path, caplog):
    config = pipeline_pb2.PipelineConfig()
    config.model_config.tasks.extend(_tasks())
    config.eval_config.spill_dir = str(tmp_path)
    batches = _batches(6000, seed=11)
    config.eval_config.max_in_memory_rows = 0  # in memory
    want = evaluator.evaluate_batches(iter(batches), config)
    config.eval_config.max_in_memory_rows = 1200
    with caplog.at_level("INFO"):
        got = evaluator.evaluate_batches(iter(batches), config)
    assert "bounded memory" in caplog.text
    assert got["num_examples"] == want["num_examples"] == 6000
    _close(got, want)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("sample,group,steps", [("census_mlp", "education", 0), ("movielens_din", "user_id", 40)])
def test_samples_evaluate_equally_in_memory_and_bounded(sample, group, steps, tmp_path):
    """An (untrained: many tied scores) model of a sample config on its evaluation data."""
    from easyrank.config import load_config
    from easyrank.models import build_model
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_config(os.path.join(root, "samples", "configs", sample + ".config"))
    config.eval_input_path[:] = [os.path.join(root, p) for p in config.eval_input_path]
    task = config.model_config.tasks[0]
    del task.metrics[:]
    task.metrics.extend([model_pb2.TaskConfig.AUC, model_pb2.TaskConfig.GAUC,
                         model_pb2.TaskConfig.PRECISION_AT_K, model_pb2.TaskConfig.RECALL_AT_K,
                         model_pb2.TaskConfig.LOGLOSS, model_pb2.TaskConfig.CALIBRATION,
                         model_pb2.TaskConfig.NORMALIZED_ENTROPY])
    task.group_field, task.top_k = group, 3
    config.eval_config.num_eval_steps = steps
    config.eval_config.spill_dir = str(tmp_path)
    model = build_model(config)
    batches = list(evaluator.predict_batches(
        model, evaluator.eval_dataset(config), list(config.model_config.tasks), steps,
        extra_fields=evaluator.extra_fields(config)))
    config.eval_config.max_in_memory_rows = 0
    want = evaluator.evaluate_batches(iter(batches), config)
    config.eval_config.max_in_memory_rows = 2000
    got = evaluator.evaluate_batches(iter(batches), config)
    assert want["num_examples"] > 5000
    _close(got, want)
