"""Retrieval metrics over a whole corpus: exact, batched, in bounded memory.

    ranks = CorpusRanker(item_embeddings).ranks(queries, positive_index, exclude)
    results = retrieval_metrics(ranks, ks=[10, 50, 100], groups=user_ids)

Each evaluation row is a query and one positive item. The positive's rank is the
number of other corpus items that score at least as high (ties count against the
positive, so a model that scores every item alike ranks every positive last), not
counting the items excluded for that row (e.g. those the user interacted with in
training). Scores are computed a chunk of the corpus at a time: memory is
O(queries x chunk_size), whatever the corpus size. A positive that is not in the
corpus is a miss at every K.

Metrics (docs/retrieval.md), for each K:
  recall@K   share of rows whose positive ranks below K (with one positive a row,
             this is TFRS's FactorizedTopK "top-K categorical accuracy");
  hitrate@K  share of groups (e.g. users) with at least one row whose positive
             ranks below K (equals recall@K without groups);
  ndcg@K     mean over rows of 1 / log2(rank + 2) when rank < K, else 0 (one
             relevant item a row, so the ideal DCG is 1).
"""

import numpy as np

MISS = np.iinfo(np.int64).max  # the rank of a positive that is not in the corpus


class CorpusRanker:
    """Ranks each query's positive among all items of a corpus.

    Args:
      item_embeddings: [N, D] float array, one row per corpus item.
      chunk_size: corpus rows scored at once (memory: queries x chunk_size floats).
    """

    def __init__(self, item_embeddings, chunk_size=8192):
        self.items = np.asarray(item_embeddings, np.float32)
        if self.items.ndim != 2 or not len(self.items):
            raise ValueError(f"item_embeddings must be [N, D] with N >= 1. Received shape: "
                             f"{self.items.shape}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1. Received: chunk_size={chunk_size}")
        self.chunk_size = chunk_size

    def ranks(self, queries, positive_index, exclude=None):
        """[B] int64 ranks (0 = best) of each row's positive; MISS where positive_index < 0.

        Args:
          queries: [B, D] query embeddings.
          positive_index: [B] corpus row of each query's positive, -1 if not in the corpus.
          exclude: None, or a list of B integer arrays: corpus rows left out of row i's
            ranking (its own positive is never left out).
        """
        # float64 scores: the positive's own score and its rivals' come from one precision.
        queries = np.asarray(queries, np.float64)
        positive_index = np.asarray(positive_index, np.int64)
        found = positive_index >= 0
        rows = np.arange(len(queries))
        positive = np.einsum("bd,bd->b", queries, self.items[np.maximum(positive_index, 0)])
        above = np.zeros(len(queries), np.int64)
        for start in range(0, len(self.items), self.chunk_size):
            scores = queries @ self.items[start:start + self.chunk_size].T.astype(np.float64)
            own = found & (positive_index >= start) & (positive_index < start + scores.shape[1])
            scores[rows[own], positive_index[own] - start] = -np.inf  # the positive itself
            above += np.sum(scores >= positive[:, None], axis=1)
        if exclude is not None:
            for i, excluded in enumerate(exclude):
                excluded = np.asarray(excluded, np.int64)
                excluded = np.unique(excluded[excluded != positive_index[i]])
                if len(excluded):
                    above[i] -= int(np.sum(self.items[excluded].astype(np.float64) @ queries[i]
                                           >= positive[i]))
        return np.where(found, above, MISS)


def retrieval_metrics(ranks, ks, groups=None, prefix=""):
    """{"<prefix>recall@K", "<prefix>hitrate@K", "<prefix>ndcg@K": value} for each K.

    ranks: [R] from CorpusRanker.ranks; groups: [R] group keys (e.g. user ids) for
    hitrate, or None (one group a row).
    """
    ranks = np.asarray(ranks)
    if not len(ranks):
        raise ValueError("no evaluation rows: retrieval metrics need at least one.")
    results = {}
    for k in sorted(set(ks)):
        hit = ranks < k
        results[f"{prefix}recall@{k}"] = float(hit.mean())
        if groups is None:
            results[f"{prefix}hitrate@{k}"] = float(hit.mean())
        else:
            keys, inverse = np.unique(np.asarray(groups), return_inverse=True)
            any_hit = np.zeros(len(keys), bool)
            np.logical_or.at(any_hit, inverse, hit)
            results[f"{prefix}hitrate@{k}"] = float(any_hit.mean())
        gain = np.where(hit, 1.0 / np.log2(np.minimum(ranks, k) + 2.0), 0.0)
        results[f"{prefix}ndcg@{k}"] = float(gain.mean())
    return results


def top_k(queries, item_embeddings, k, chunk_size=8192):
    """(indices [B, k], scores [B, k]) of the k best corpus rows per query, best first, exact."""
    items = np.asarray(item_embeddings, np.float32)
    queries = np.asarray(queries, np.float32)
    if not 1 <= k <= len(items):
        raise ValueError(f"k must be in [1, {len(items)}] (the corpus size). Received: k={k}")
    best_scores = np.full((len(queries), 0), -np.inf, np.float32)
    best_index = np.zeros((len(queries), 0), np.int64)
    for start in range(0, len(items), chunk_size):
        chunk = queries @ items[start:start + chunk_size].T
        columns = np.broadcast_to(np.arange(start, start + chunk.shape[1]), chunk.shape)
        scores = np.concatenate([best_scores, chunk], axis=1)
        index = np.concatenate([best_index, columns], axis=1)
        keep = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_index = np.take_along_axis(index, keep, axis=1)
    return best_index, best_scores
