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
