"""Evaluation metrics on NumPy arrays: exact AUC, GAUC, logloss, accuracy, MSE, MAE,
calibration, normalised entropy, and precision and recall at k within groups.

Evaluation collects predictions, labels and group ids once and computes every
metric exactly (AUC by ranks with ties averaged, not by thresholds).
"""

import numpy as np


def auc(labels, scores, weights=None):
    """Area under the ROC curve; ties count one half. NaN if one class is missing."""
    labels = np.asarray(labels, dtype=np.float64) > 0.5
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, dtype=np.float64)
    pos_total = weights[labels].sum()
    neg_total = weights[~labels].sum()
    if pos_total <= 0 or neg_total <= 0:
        return float("nan")
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse, weights=weights * labels, minlength=len(values))
    neg = np.bincount(inverse, weights=weights * ~labels, minlength=len(values))
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (pos_total * neg_total))


def gauc(labels, scores, groups, weights=None):
    """AUC per group, averaged with group weights (row counts or weight sums).

    Groups whose rows are all of one class are skipped. NaN if none remains.
    """
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, dtype=np.float64)
    _, group_ids = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(group_ids, kind="stable")
    bounds = np.flatnonzero(np.diff(group_ids[order])) + 1
    total, weight_sum = 0.0, 0.0
    for rows in np.split(order, bounds):
        value = auc(labels[rows], scores[rows], weights[rows])
        if not np.isnan(value):
            w = weights[rows].sum()
            total += w * value
            weight_sum += w
    return total / weight_sum if weight_sum > 0 else float("nan")


def logloss_rows(labels, probs, eps=1e-7):
    labels = np.asarray(labels, dtype=np.float64)
    probs = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    return -(labels * np.log(probs) + (1 - labels) * np.log(1 - probs))


def logloss(labels, probs, weights=None, eps=1e-7):
    return float(np.average(logloss_rows(labels, probs, eps), weights=weights))


def accuracy_rows(labels, probs):
    return (np.asarray(probs) > 0.5) == (np.asarray(labels) > 0.5)


def accuracy(labels, probs, weights=None):
    return float(np.average(accuracy_rows(labels, probs), weights=weights))


def squared_error_rows(labels, predictions):
    return np.square(np.asarray(predictions) - np.asarray(labels))


def mse(labels, predictions, weights=None):
    return float(np.average(squared_error_rows(labels, predictions), weights=weights))


def absolute_error_rows(labels, predictions):
    return np.abs(np.asarray(predictions) - np.asarray(labels))


def mae(labels, predictions, weights=None):
    return float(np.average(absolute_error_rows(labels, predictions), weights=weights))


def calibration(labels, probs, weights=None):
    """Predicted over observed positive rate: sum(w p) / sum(w y); 1 is calibrated. NaN without positives."""
    labels, probs = np.asarray(labels, np.float64), np.asarray(probs, np.float64)
    weights = np.ones_like(probs) if weights is None else np.asarray(weights, np.float64)
    observed = (weights * labels).sum()
    return float((weights * probs).sum() / observed) if observed > 0 else float("nan")


def normalized_entropy(labels, probs, weights=None, eps=1e-7):
    """Logloss divided by the entropy of the base rate (He et al., 2014); below 1 beats the base rate."""
    labels = np.asarray(labels, np.float64)
    weights = np.ones_like(labels) if weights is None else np.asarray(weights, np.float64)
    rate = np.clip((weights * labels).sum() / weights.sum(), eps, 1 - eps)
    base = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    return logloss(labels, probs, weights, eps) / base


def _top_k_hits(labels, scores, groups, k):
    """Per group with a positive: (positives in its k best-scored rows, rows taken, positives)."""
    labels = np.asarray(labels, np.float64) > 0.5
    scores = np.asarray(scores, np.float64)
    _, group_ids = np.unique(np.asarray(groups), return_inverse=True)
    # Within each group, rows by descending score (stable: ties keep input order).
    order = np.lexsort((-scores, group_ids))
    sorted_groups = group_ids[order]
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_groups) != 0])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    top = rank < k
    num_groups = len(starts)
    hits = np.bincount(sorted_groups, weights=(labels[order] & top), minlength=num_groups)
    taken = np.bincount(sorted_groups, weights=top, minlength=num_groups)
    positives = np.bincount(sorted_groups, weights=labels[order], minlength=num_groups)
    keep = positives > 0
    return hits[keep], taken[keep], positives[keep]


def precision_at_k(labels, scores, groups, k):
    """Mean over groups with a positive of (positives among the group's k best-scored rows) / min(k, rows)."""
    hits, taken, _ = _top_k_hits(labels, scores, groups, k)
    return float(np.mean(hits / taken)) if len(hits) else float("nan")


def recall_at_k(labels, scores, groups, k):
    """Mean over groups with a positive of (positives among the group's k best-scored rows) / positives."""
    hits, _, positives = _top_k_hits(labels, scores, groups, k)
    return float(np.mean(hits / positives)) if len(hits) else float("nan")


def multiclass_logloss_rows(labels, probs, eps=1e-7):
    labels = np.asarray(labels).astype(np.int64)
    probs = np.clip(np.asarray(probs, np.float64), eps, 1.0)
    return -np.log(probs[np.arange(len(labels)), labels])


def multiclass_logloss(labels, probs, weights=None, eps=1e-7):
    """Mean -log p[label] of [N, C] class probabilities."""
    return float(np.average(multiclass_logloss_rows(labels, probs, eps), weights=weights))


def multiclass_accuracy_rows(labels, probs):
    return np.argmax(np.asarray(probs), axis=1) == np.asarray(labels).astype(np.int64)


def multiclass_accuracy(labels, probs, weights=None):
    """Share of rows whose most probable class is the label."""
    return float(np.average(multiclass_accuracy_rows(labels, probs), weights=weights))


def multiclass_auc(labels, probs, weights=None):
    """Macro one-vs-rest AUC: the mean over classes (with both positives and negatives) of
    the AUC of p[class] for "label == class"."""
    labels, probs = np.asarray(labels).astype(np.int64), np.asarray(probs)
    values = [auc(labels == c, probs[:, c], weights) for c in range(probs.shape[1])]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")
