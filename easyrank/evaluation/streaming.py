"""The metrics of evaluation/metrics.py, exact, on more rows than fit in memory.

StreamingMetrics takes the rows of one task batch by batch. Sums (logloss,
accuracy, MSE, MAE, calibration, normalised entropy) need O(1) memory. AUC
spills (score, positive weight, negative weight) and the group metrics (GAUC,
PRECISION_AT_K, RECALL_AT_K) spill (group, score, row, label, weights) to
sorted runs on local disk (external_sort.py); one merge pass in score order,
or in (group, score, reversed row) order, then computes them exactly: ties of
equal score are summed before they count (AUC with ties one half), a group's
AUC is finished when its last row has passed, and its top k are its last k
rows (the best scores, ties in input order, as metrics.precision_at_k).

Memory: about 3 * chunk_rows spilled records per spill (24 bytes a row for
AUC, 41 for the group metrics), whatever the number of rows. Numeric groups
are compared exactly; string groups by a 127-bit hash (FarmHash fingerprint
and SipHash), so two distinct groups merge with probability below n^2 / 2^127.
"""

import numpy as np
import tensorflow as tf

from easyrank.evaluation.external_sort import SortedSpill, float_key, pack_keys, unpack_keys

AUC_DTYPE = np.dtype([("key", "S8"), ("pos", "f8"), ("neg", "f8")])
GROUP_DTYPE = np.dtype([("key", "S32"), ("pos", "f8"), ("neg", "f8"), ("label", "u1")])
_LAST_ROW = np.uint64(2**64 - 1)


def group_keys(values):
    """Two uint64 columns that are equal exactly when the group values are (strings: hashed)."""
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "biu":
        return np.zeros(len(values), np.uint64), values.astype(np.int64).view(np.uint64)
    if values.dtype.kind == "f":
        return np.zeros(len(values), np.uint64), float_key(values)
    text = tf.constant([v if isinstance(v, bytes) else str(v).encode() for v in values]
                       if values.dtype.kind in "OU" else values, tf.string)
    fingerprint = tf.fingerprint(text).numpy().view("<u8").reshape(-1)
    sip = tf.strings.to_hash_bucket_strong(text, 2**63 - 1, key=[0x65617379, 0x72616e6b]).numpy()
    return fingerprint.astype(np.uint64), sip.astype(np.uint64)


def _starts(columns):
    """Indices where any of the equal-length `columns` differs from the previous row (0 first)."""
    new = np.zeros(len(columns[0]), bool)
    new[0] = True
    for column in columns:
        new[1:] |= column[1:] != column[:-1]
    return np.flatnonzero(new)


class GroupedAuc:
    """sum_g w_g AUC_g and sum_g w_g (w_g: the group's weight) from rows in (group, score) order.

    add() takes sorted blocks; a tie of equal (group, score) or a group may span blocks.
    """

    def __init__(self):
        self.total = self.weight = 0.0
        self.groups = 0
        self._tie = None    # the last (group, score) tie: (groups [1, m], score [1], pos, neg)
        self._group = None  # the open group: (group [m], P, N, numerator)

    def add(self, groups, scores, pos, neg, final=False):
        if self._tie is not None:
            tg, ts, tp, tn = self._tie
            groups, scores = np.concatenate([tg, groups]), np.concatenate([ts, scores])
            pos, neg = np.concatenate([tp, pos]), np.concatenate([tn, neg])
            self._tie = None
        if len(scores):
            starts = _starts([groups[:, i] for i in range(groups.shape[1])] + [scores])
            groups, scores = groups[starts], scores[starts]
            pos, neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
            if not final:  # the last tie may go on in the next block
                self._tie = (groups[-1:], scores[-1:], pos[-1:], neg[-1:])
                groups, pos, neg = groups[:-1], pos[:-1], neg[:-1]
        if len(pos):
            self._add_ties(groups, pos, neg)
        if final and self._group is not None:
            self._finish(*self._group[1:])
            self._group = None

    def _add_ties(self, groups, pos, neg):
        starts = _starts([groups[:, i] for i in range(groups.shape[1])])
        seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pos)]))
        below = np.cumsum(neg) - neg
        below -= below[starts][seg]  # negatives of lower score in the same group
        carried = self._group is not None and np.array_equal(self._group[0], groups[0])
        if carried:
            below[seg == 0] += self._group[2]
        if self._group is not None and not carried:
            self._finish(*self._group[1:])
        count = len(starts)
        p = np.bincount(seg, pos, count)
        n = np.bincount(seg, neg, count)
        num = np.bincount(seg, pos * (below + 0.5 * neg), count)
        if carried:
            p[0] += self._group[1]
            n[0] += self._group[2]
            num[0] += self._group[3]
        for i in range(count - 1):
            self._finish(p[i], n[i], num[i])
        self._group = (groups[starts[-1]], p[-1], n[-1], num[-1])

    def _finish(self, p, n, num):
        if p > 0 and n > 0:
            self.total += (p + n) * (num / (p * n))
            self.weight += p + n
            self.groups += 1

    def gauc(self):
        return self.total / self.weight if self.weight > 0 else float("nan")

    def auc(self):
        """The AUC when all rows are one group."""
        return self.total / self.weight if self.groups == 1 else float("nan")


class TopK:
    """Sums of precision@k and recall@k over groups with a positive, from rows in group order
    whose k best rows of each group come last."""

    def __init__(self, k):
        self.k = k
        self.precision = self.recall = 0.0
        self.groups = 0
        self._carry = None  # the open group's last k rows (groups [m, c], labels) and positives before

    def add(self, groups, labels, final=False):
        before = 0.0
        if self._carry is not None:
            cg, cl, before = self._carry
            groups, labels = np.concatenate([cg, groups]), np.concatenate([cl, labels])
            self._carry = None
        if not len(labels):
            return
        labels = labels.astype(bool)
        starts = _starts([groups[:, i] for i in range(groups.shape[1])])
        ends = np.r_[starts[1:], len(labels)]
        seg = np.repeat(np.arange(len(starts)), ends - starts)
        top = (ends[seg] - np.arange(len(labels)) - 1) < self.k
        count = len(starts)
        hits = np.bincount(seg, (labels & top).astype(np.float64), count)
        taken = np.bincount(seg, top.astype(np.float64), count)
        positives = np.bincount(seg, labels.astype(np.float64), count)
        positives[0] += before
        done = count if final else count - 1
        keep = positives[:done] > 0
        self.precision += float(np.sum(hits[:done][keep] / taken[:done][keep]))
        self.recall += float(np.sum(hits[:done][keep] / positives[:done][keep]))
        self.groups += int(keep.sum())
        if not final:
            last = slice(max(starts[-1], len(labels) - self.k), len(labels))
            dropped = positives[-1] - labels[last].sum()
            self._carry = (groups[last], labels[last], dropped)

    def precision_at_k(self):
        return self.precision / self.groups if self.groups else float("nan")

    def recall_at_k(self):
        return self.recall / self.groups if self.groups else float("nan")


def _weights(weights, n):
    return np.ones(n) if weights is None else np.asarray(weights, np.float64).reshape(-1)


class AucSpill:
    """Exact AUC of rows added batch by batch."""

    def __init__(self, chunk_rows, directory=None):
        self.spill = SortedSpill(AUC_DTYPE, chunk_rows, directory)

    def add(self, labels, scores, weights=None):
        positive = np.asarray(labels, np.float64).reshape(-1) > 0.5
        w = _weights(weights, len(positive))
        records = np.empty(len(positive), AUC_DTYPE)
        records["key"] = pack_keys(float_key(scores))
        records["pos"], records["neg"] = w * positive, w * ~positive
        self.spill.add(records)

    def result(self):
        reducer = GroupedAuc()
        with self.spill:
            for block in self.spill.merged():
                scores = unpack_keys(block["key"], 1)[:, 0]
                reducer.add(np.zeros((len(block), 1), np.uint64), scores, block["pos"], block["neg"])
        reducer.add(np.zeros((0, 1), np.uint64), np.zeros(0, np.uint64), np.zeros(0), np.zeros(0),
                    final=True)
        return reducer.auc()


class GroupSpill:
    """Exact GAUC, precision@k and recall@k of rows added batch by batch."""

    def __init__(self, chunk_rows, k, directory=None):
        self.spill = SortedSpill(GROUP_DTYPE, chunk_rows, directory)
        self.k = k
        self._row = 0

    def add(self, labels, scores, groups, weights=None):
        labels = np.asarray(labels, np.float64).reshape(-1) > 0.5
        n = len(labels)
        if not n:
            return
        w = _weights(weights, n)
        high, low = group_keys(groups)
        # Within a (group, score) tie, later rows first: a group's last k rows are its top k.
        rows = _LAST_ROW - (np.uint64(self._row) + np.arange(n, dtype=np.uint64))
        self._row += n
        records = np.empty(n, GROUP_DTYPE)
        records["key"] = pack_keys(high, low, float_key(scores), rows)
        records["pos"], records["neg"], records["label"] = w * labels, w * ~labels, labels
        self.spill.add(records)

    def result(self):
        """(gauc, precision@k, recall@k)."""
        aucs, top = GroupedAuc(), TopK(self.k or 1)
        with self.spill:
            for block in self.spill.merged():
                columns = unpack_keys(block["key"], 4)
                aucs.add(columns[:, :2], columns[:, 2], block["pos"], block["neg"])
                top.add(columns[:, :2], block["label"])
        empty = np.zeros((0, 2), np.uint64)
        aucs.add(empty, np.zeros(0, np.uint64), np.zeros(0), np.zeros(0), final=True)
        top.add(empty, np.zeros(0, np.uint8), final=True)
        return aucs.gauc(), top.precision_at_k(), top.recall_at_k()


class WeightedMean:
    """sum(w v) / sum(w) of a per-row value v = fn(labels, predictions); NaN without weight."""

    def __init__(self, fn):
        self.fn = fn
        self.weight = self.total = 0.0

    def add(self, labels, predictions, weights=None):
        values = self.fn(labels, predictions)
        w = _weights(weights, len(values))
        self.weight += float(w.sum())
        self.total += float((w * values).sum())

    def result(self):
        return self.total / self.weight if self.weight > 0 else float("nan")


class CalibrationSums:
    """sum(w p) / sum(w y), as metrics.calibration."""

    def __init__(self):
        self.predicted = self.observed = 0.0

    def add(self, labels, probs, weights=None):
        w = _weights(weights, len(np.asarray(probs).reshape(-1)))
        self.predicted += float((w * np.asarray(probs, np.float64).reshape(-1)).sum())
        self.observed += float((w * np.asarray(labels, np.float64).reshape(-1)).sum())

    def result(self):
        return self.predicted / self.observed if self.observed > 0 else float("nan")


class EntropySums:
    """Normalised entropy, as metrics.normalized_entropy."""

    def __init__(self, logloss_fn, eps=1e-7):
        self.loss, self.eps = WeightedMean(logloss_fn), eps
        self.positive = 0.0

    def add(self, labels, probs, weights=None):
        self.loss.add(labels, probs, weights)
        w = _weights(weights, len(np.asarray(labels).reshape(-1)))
        self.positive += float((w * np.asarray(labels, np.float64).reshape(-1)).sum())

    def result(self):
        if self.loss.weight <= 0:
            return float("nan")
        rate = np.clip(self.positive / self.loss.weight, self.eps, 1 - self.eps)
        return self.loss.result() / -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))


class MulticlassAuc:
    """Macro one-vs-rest AUC, as metrics.multiclass_auc."""

    def __init__(self, chunk_rows, directory=None):
        self.chunk_rows, self.directory = chunk_rows, directory
        self.classes = None

    def add(self, labels, probs, weights=None):
        labels, probs = np.asarray(labels).astype(np.int64), np.asarray(probs)
        if self.classes is None:
            self.classes = [AucSpill(self.chunk_rows, self.directory) for _ in range(probs.shape[1])]
        for c, spill in enumerate(self.classes):
            spill.add(labels == c, probs[:, c], weights)

    def result(self):
        values = [spill.result() for spill in self.classes or []]
        values = [v for v in values if not np.isnan(v)]
        return float(np.mean(values)) if values else float("nan")
