"""easyrank.evaluation.corpus_metrics against a brute-force NumPy reference."""

import numpy as np
import pytest

from easyrank.evaluation.corpus_metrics import MISS, CorpusRanker, retrieval_metrics, top_k

RNG = np.random.default_rng(11)
N, D, R = 500, 8, 64
ITEMS = RNG.normal(size=(N, D)).astype(np.float32)
QUERIES = RNG.normal(size=(R, D)).astype(np.float32)
POSITIVE = RNG.integers(0, N, size=R)
POSITIVE[5] = -1  # not in the corpus
EXCLUDE = [RNG.choice(N, size=RNG.integers(0, 40), replace=False) for _ in range(R)]
EXCLUDE[7] = np.append(EXCLUDE[7], POSITIVE[7])  # the positive itself is never excluded
GROUPS = RNG.integers(0, 20, size=R)


def brute_force(exclude=None):
    """Full score matrix, full sort of each row, the position of the positive."""
    scores = QUERIES.astype(np.float64) @ ITEMS.astype(np.float64).T
    ranks = []
    for i in range(R):
        if POSITIVE[i] < 0:
            ranks.append(None)
            continue
        keep = np.ones(N, bool)
        if exclude is not None:
            keep[exclude[i]] = False
            keep[POSITIVE[i]] = True
        order = np.argsort(-scores[i][keep], kind="stable")
        ranks.append(int(np.where(np.flatnonzero(keep)[order] == POSITIVE[i])[0][0]))
    return ranks


def reference_metrics(ranks, ks, groups):
    out = {}
    for k in ks:
        hits = [r is not None and r < k for r in ranks]
        out[f"recall@{k}"] = np.mean(hits)
        by_group = {}
        for g, h in zip(groups, hits):
            by_group[g] = by_group.get(g, False) or h
        out[f"hitrate@{k}"] = np.mean(list(by_group.values()))
        out[f"ndcg@{k}"] = np.mean([1 / np.log2(r + 2) if h else 0.0 for r, h in zip(ranks, hits)])
    return out


@pytest.mark.parametrize("chunk_size", [1, 37, 10_000])
@pytest.mark.parametrize("use_exclude", [False, True])
def test_ranks_and_metrics_match_brute_force(chunk_size, use_exclude):
    exclude = EXCLUDE if use_exclude else None
    ranks = CorpusRanker(ITEMS, chunk_size=chunk_size).ranks(QUERIES, POSITIVE, exclude)
    expected = brute_force(exclude)
    assert ranks[5] == MISS
    assert [None if r == MISS else int(r) for r in ranks] == expected
    got = retrieval_metrics(ranks, [1, 10, 50, 200], groups=GROUPS)
    want = reference_metrics(expected, [1, 10, 50, 200], GROUPS)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    # The metrics are not trivially 0 or 1 on this data.
    assert 0.0 < got["recall@50"] < 1.0 and got["hitrate@50"] > got["recall@50"]


def test_excluding_items_raises_recall():
    plain = CorpusRanker(ITEMS).ranks(QUERIES, POSITIVE)
    excluded = CorpusRanker(ITEMS).ranks(QUERIES, POSITIVE, EXCLUDE)
    assert np.all(excluded <= plain) and np.any(excluded < plain)


def test_ties_rank_the_positive_last():
    # An untrained model scoring every item alike must not look perfect.
    ranks = CorpusRanker(np.zeros((N, D))).ranks(QUERIES, np.abs(POSITIVE))
    assert np.all(ranks == N - 1)
    assert retrieval_metrics(ranks, [10])["recall@10"] == 0.0


def test_top_k_matches_argsort():
    for chunk_size in (7, 1000):
        index, scores = top_k(QUERIES, ITEMS, 25, chunk_size=chunk_size)
        full = QUERIES @ ITEMS.T
        expected = np.argsort(-full, axis=1, kind="stable")[:, :25]
        np.testing.assert_array_equal(index, expected)
        np.testing.assert_allclose(scores, np.take_along_axis(full, expected, axis=1), rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="k must be in"):
        top_k(QUERIES, ITEMS, N + 1)
    with pytest.raises(ValueError, match="no evaluation rows"):
        retrieval_metrics([], [10])
    with pytest.raises(ValueError, match="chunk_size must be"):
        CorpusRanker(ITEMS, chunk_size=0)
