"""Streaming summaries of one column: moments, quantiles (KLL) and value counts (Misra-Gries).

All three are updated batch by batch with NumPy arrays, use memory bounded
independently of the number of rows, and are exact on small inputs:

- Moments: count, mean, M2 (Chan et al.'s pairwise update in float64), min,
  max; exact up to float64 rounding on any input.
- QuantileSketch: the KLL sketch (Karnin, Lang, Liberty 2016) with compactors
  of equal capacity k. Exact while at most k values were seen; beyond that a
  quantile's rank error is at most about n * sqrt(H) / k with high probability
  (H = log2(n / k) compaction levels): for k = 8192 and 10^8 rows that is
  under 0.1% of the rows; the tests check it on 10^6 values. Memory: k * (H + 1)
  float64.
- ValueCounter: exact counts while at most `capacity` distinct values were
  seen; past it, the Misra-Gries summary: every count is underestimated by at
  most n / (capacity + 1) (n = values counted), and every value more frequent
  than that is kept. `error_bound` reports the bound that applies.
"""

import numpy as np


class Moments:
    """Count, mean, variance, min and max of a stream of numbers."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = np.inf, -np.inf

    def update(self, values):
        values = np.asarray(values, np.float64)
        if not values.size:
            return
        n, mean = values.size, float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.min, self.max = min(self.min, float(values.min())), max(self.max, float(values.max()))

    @property
    def std(self):
        """Population standard deviation (ddof=0)."""
        return float(np.sqrt(self.m2 / self.count)) if self.count else 0.0


class QuantileSketch:
    """KLL quantile sketch of a stream of numbers; mergeable; exact up to k values."""

    def __init__(self, k=8192, seed=0):
        self.k = k
        self.count = 0
        self._levels = [np.empty(0)]
        self._rng = np.random.default_rng(seed)

    def update(self, values):
        values = np.asarray(values, np.float64).ravel()
        self.count += values.size
        self._levels[0] = np.concatenate([self._levels[0], values])
        self._compact()

    def merge(self, other):
        """Adds another sketch's values (the same k)."""
        self.count += other.count
        for height, level in enumerate(other._levels):
            if height == len(self._levels):
                self._levels.append(np.empty(0))
            self._levels[height] = np.concatenate([self._levels[height], level])
        self._compact()

    def _compact(self):
        height = 0
        while height < len(self._levels):
            level = self._levels[height]
            if level.size > self.k:
                level = np.sort(level)
                keep = level[:1] if level.size % 2 else level[:0]  # an odd one stays
                pairs = level[keep.size:]
                promoted = pairs[self._rng.integers(2)::2]  # one of each adjacent pair, weight x2
                self._levels[height] = keep
                if height + 1 == len(self._levels):
                    self._levels.append(np.empty(0))
                self._levels[height + 1] = np.concatenate([self._levels[height + 1], promoted])
            height += 1

    @property
    def exact(self):
        return len(self._levels) == 1

    def quantiles(self, fractions):
        """The smallest value v with rank(v) >= q * count for each q (numpy's inverted_cdf)."""
        values = np.concatenate(self._levels)
        weights = np.concatenate([np.full(level.size, 2 ** h, np.float64)
                                  for h, level in enumerate(self._levels)])
        if not values.size:
            return np.full(len(fractions), np.nan)
        order = np.argsort(values, kind="stable")
        values, cumulative = values[order], np.cumsum(weights[order])
        targets = np.asarray(fractions, np.float64) * cumulative[-1]
        index = np.searchsorted(cumulative, targets, side="left")
        return values[np.minimum(index, values.size - 1)]


class ValueCounter:
    """Counts of string values: exact up to `capacity` distinct values, then Misra-Gries."""

    def __init__(self, capacity=1 << 20):
        self.capacity = capacity
        self.total = 0
        self.decremented = 0  # sum of the Misra-Gries decrements: the error bound
        self._counts = {}

    def update(self, values, counts):
        """Adds `counts[i]` occurrences of `values[i]` (distinct values of one batch)."""
        self.total += int(np.sum(counts))
        get = self._counts.get
        for value, count in zip(values, counts.tolist()):
            self._counts[value] = get(value, 0) + count
        if len(self._counts) > self.capacity:
            self._shrink()

    def _shrink(self):
        counts = np.fromiter(self._counts.values(), np.int64, len(self._counts))
        cut = int(np.partition(counts, -(self.capacity + 1))[-(self.capacity + 1)])
        self.decremented += cut
        self._counts = {v: c - cut for v, c in self._counts.items() if c > cut}

    @property
    def error_bound(self):
        """Every reported count is at most this much below the true one (0: exact)."""
        return self.decremented

    def most_common(self, min_count=1, max_size=0):
        """[(value, count)], most frequent first (ties by value), count >= min_count, at most max_size."""
        kept = [(v, c) for v, c in self._counts.items() if c >= min_count]
        kept.sort(key=lambda item: (-item[1], item[0]))
        return kept[:max_size] if max_size else kept

    @property
    def distinct(self):
        return len(self._counts)
