"""Streaming summaries against NumPy: exact on small data, within the stated bounds when sketched."""

import collections

import numpy as np
import pytest

from easyrank.statistics.sketches import Moments, QuantileSketch, ValueCounter


def test_moments_match_numpy_across_batches():
    values = np.random.default_rng(0).lognormal(size=10_001)
    moments = Moments()
    for chunk in np.array_split(values, 7):
        moments.update(chunk)
    assert moments.count == values.size
    np.testing.assert_allclose([moments.mean, moments.std, moments.min, moments.max],
                               [values.mean(), values.std(), values.min(), values.max()], rtol=1e-12)


@pytest.mark.parametrize("fractions", [[0.1, 0.5, 0.9], np.arange(1, 20) / 20])
def test_quantiles_are_exact_up_to_k_values(fractions):
    values = np.random.default_rng(1).normal(size=1000).round(1)  # ties included
    sketch = QuantileSketch(k=1000)
    for chunk in np.array_split(values, 3):
        sketch.update(chunk)
    assert sketch.exact
    np.testing.assert_array_equal(sketch.quantiles(fractions),
                                  np.quantile(values, fractions, method="inverted_cdf"))


def test_sketched_quantiles_are_within_the_stated_rank_error():
    rng = np.random.default_rng(2)
    values = rng.lognormal(size=1_000_000)
    k = 1024
    sketch, other = QuantileSketch(k=k, seed=3), QuantileSketch(k=k, seed=4)
    for chunk in np.array_split(values[:600_000], 60):
        sketch.update(chunk)
    for chunk in np.array_split(values[600_000:], 40):
        other.update(chunk)
    sketch.merge(other)
    assert not sketch.exact and sketch.count == values.size
    fractions = np.arange(1, 100) / 100
    ranks = np.searchsorted(np.sort(values), sketch.quantiles(fractions), side="right") / values.size
    height = np.log2(values.size / k)
    bound = np.sqrt(height) / k  # sketches.py: rank error <= n * sqrt(H) / k
    assert np.abs(ranks - fractions).max() < bound, (np.abs(ranks - fractions).max(), bound)
    kept = sum(level.size for level in sketch._levels)
    assert kept <= k * (height + 2)


def test_value_counts_are_exact_below_capacity():
    values = np.random.default_rng(5).zipf(1.5, size=20_000).astype(str)
    counter = ValueCounter(capacity=100_000)
    for chunk in np.array_split(values, 9):
        distinct, counts = np.unique(chunk, return_counts=True)
        counter.update(distinct.tolist(), counts)
    truth = collections.Counter(values.tolist())
    assert counter.error_bound == 0
    assert dict(counter.most_common()) == dict(truth)
    assert counter.most_common(min_count=50, max_size=3) == sorted(
        [(v, c) for v, c in truth.items() if c >= 50], key=lambda x: (-x[1], x[0]))[:3]


def test_misra_gries_undercounts_by_at_most_the_bound_and_keeps_heavy_hitters():
    values = np.random.default_rng(6).zipf(1.3, size=200_000).astype(str)
    capacity = 200
    counter = ValueCounter(capacity=capacity)
    for chunk in np.array_split(values, 50):
        distinct, counts = np.unique(chunk, return_counts=True)
        counter.update(distinct.tolist(), counts)
    truth = collections.Counter(values.tolist())
    bound = counter.error_bound
    assert 0 < bound <= values.size / (capacity + 1)
    reported = dict(counter.most_common())
    assert len(reported) <= capacity
    for value, count in reported.items():
        assert truth[value] - bound <= count <= truth[value]
    heavy = [v for v, c in truth.items() if c > bound]
    assert heavy and all(v in reported for v in heavy)
