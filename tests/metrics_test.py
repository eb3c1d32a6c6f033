"""Exact metrics against brute-force definitions."""

import itertools

import numpy as np
import pytest

from easyrank.evaluation import metrics


def brute_auc(labels, scores, weights):
    num = den = 0.0
    for (li, si, wi), (lj, sj, wj) in itertools.product(zip(labels, scores, weights), repeat=2):
        if li == 1 and lj == 0:
            den += wi * wj
            num += wi * wj * (1.0 if si > sj else 0.5 if si == sj else 0.0)
    return num / den


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_definition_with_ties_and_weights(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60), 1)  # many ties
    weights = rng.random(60) + 0.1
    assert metrics.auc(labels, scores, weights) == pytest.approx(brute_auc(labels, scores, weights))
    assert metrics.auc(labels, scores) == pytest.approx(brute_auc(labels, scores, np.ones(60)))


def test_auc_edge_cases():
    assert metrics.auc([0, 1], [0.1, 0.9]) == 1.0
    assert metrics.auc([0, 1], [0.9, 0.1]) == 0.0
    assert metrics.auc([0, 1, 0, 1], [0.5] * 4) == 0.5
    assert np.isnan(metrics.auc([1, 1], [0.1, 0.2]))


def test_gauc_weights_groups_by_size_and_skips_one_class_groups():
    labels = [1, 0, 1, 0, 0, 1, 1]
    scores = [0.9, 0.1, 0.2, 0.8, 0.3, 0.5, 0.6]
    groups = ["a", "a", "b", "b", "b", "c", "c"]
    auc_a = 1.0
    auc_b = metrics.auc([1, 0, 0], [0.2, 0.8, 0.3])
    assert metrics.gauc(labels, scores, groups) == pytest.approx((2 * auc_a + 3 * auc_b) / 5)
    assert np.isnan(metrics.gauc([1, 1], [0.1, 0.2], ["a", "b"]))


def test_logloss_accuracy_mse_mae():
    labels = np.array([1, 0, 1, 0])
    probs = np.array([0.9, 0.2, 0.4, 0.6])
    want = -np.mean(np.log([0.9, 0.8, 0.4, 0.4]))
    assert metrics.logloss(labels, probs) == pytest.approx(want)
    assert metrics.accuracy(labels, probs) == 0.5
    assert metrics.mse([1.0, 2.0], [2.0, 4.0]) == pytest.approx(2.5)
    assert metrics.mae([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.5)
    assert metrics.logloss([1, 0], [0.9, 0.1], weights=[3, 1]) == pytest.approx(-np.log(0.9))


def _loop_top_k(labels, scores, groups, k):
    """Per-group precision@k and recall@k by sorting each group in Python."""
    precisions, recalls = [], []
    for g in sorted(set(groups)):
        rows = [i for i in range(len(groups)) if groups[i] == g]
        positives = sum(labels[i] > 0.5 for i in rows)
        if positives == 0:
            continue
        ranked = sorted(rows, key=lambda i: -scores[i])[:k]  # sorted() is stable: ties keep row order
        hits = sum(labels[i] > 0.5 for i in ranked)
        precisions.append(hits / len(ranked))
        recalls.append(hits / positives)
    return np.mean(precisions), np.mean(recalls)


@pytest.mark.parametrize("k", [1, 2, 3, 50])
def test_precision_and_recall_at_k_match_a_loop(k):
    rng = np.random.default_rng(k)
    labels = (rng.random(200) < 0.3).astype(float)
    scores = np.round(rng.random(200), 1)  # many ties
    groups = rng.integers(0, 17, 200)
    precision, recall = _loop_top_k(labels, scores, groups, k)
    assert metrics.precision_at_k(labels, scores, groups, k) == pytest.approx(precision)
    assert metrics.recall_at_k(labels, scores, groups, k) == pytest.approx(recall)


def test_precision_and_recall_at_k_by_hand():
    labels = [1, 0, 0, 1, 0, 1]
    scores = [0.9, 0.8, 0.1, 0.2, 0.7, 0.3]
    groups = ["a", "a", "a", "a", "b", "b"]
    # a: top 2 = rows 0 (pos), 1 (neg) -> precision 1/2, recall 1/2; b: rows 4 (neg), 5 (pos) -> 1/2, 1/1.
    assert metrics.precision_at_k(labels, scores, groups, 2) == pytest.approx(0.5)
    assert metrics.recall_at_k(labels, scores, groups, 2) == pytest.approx(0.75)
    assert np.isnan(metrics.recall_at_k([0, 0], [0.1, 0.2], ["a", "b"], 1))


def test_calibration_and_normalized_entropy():
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 0])
    probs = np.array([0.6, 0.2, 0.1, 0.5, 0.3, 0.2, 0.1, 0.2])
    weights = np.array([1, 2, 1, 1, 1, 3, 1, 1], float)
    assert metrics.calibration(labels, probs) == pytest.approx(probs.sum() / 2)
    assert metrics.calibration(labels, probs, weights) == pytest.approx((weights * probs).sum() / 2)
    rate = 2 / 8
    base = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    assert metrics.normalized_entropy(labels, probs) == pytest.approx(metrics.logloss(labels, probs) / base)
    # Predicting the base rate everywhere gives exactly 1.
    assert metrics.normalized_entropy(labels, np.full(8, rate)) == pytest.approx(1.0, rel=1e-6)
