"""easyrank.models.losses against NumPy re-statements of their formulas."""

import easyrank  # noqa: F401

# isort: split

import numpy as np
import pytest
import tensorflow as tf

from easyrank.models import losses

RNG = np.random.default_rng(7)
LOGITS = RNG.normal(size=12).astype(np.float32)
LABELS = (RNG.random(12) < 0.4).astype(np.float32)
WEIGHTS = RNG.random(12).astype(np.float32)
GROUPS = np.array([b"u1", b"u1", b"u2", b"u1", b"u3", b"u2", b"u2", b"u3", b"u4", b"u4", b"u1", b"u3"])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def weighted_mean(values, weights):
    return (values * weights).sum() / weights.sum()


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_binary_cross_entropy(weights):
    p = sigmoid(LOGITS)
    expected = -(LABELS * np.log(p) + (1 - LABELS) * np.log(1 - p))
    w = np.ones(12) if weights is None else weights
    got = losses.binary_cross_entropy(tf.constant(LOGITS), tf.constant(LABELS), weights)
    np.testing.assert_allclose(got.numpy(), weighted_mean(expected, w), rtol=1e-5)


@pytest.mark.parametrize("gamma, alpha", [(2.0, -1.0), (2.0, 0.25), (0.0, -1.0), (0.5, 0.75)])
def test_focal(gamma, alpha):
    p = sigmoid(LOGITS)
    p_t = np.where(LABELS > 0, p, 1 - p)
    expected = -((1 - p_t) ** gamma) * np.log(p_t)
    if alpha >= 0:
        expected *= np.where(LABELS > 0, alpha, 1 - alpha)
    got = losses.focal(tf.constant(LOGITS), tf.constant(LABELS), tf.constant(WEIGHTS), gamma, alpha)
    np.testing.assert_allclose(got.numpy(), weighted_mean(expected, WEIGHTS), rtol=1e-5)


def test_focal_with_gamma_zero_is_cross_entropy():
    args = tf.constant(LOGITS), tf.constant(LABELS)
    np.testing.assert_allclose(losses.focal(*args, gamma=0.0).numpy(),
                               losses.binary_cross_entropy(*args).numpy(), rtol=1e-6)


def test_softmax_cross_entropy():
    logits = RNG.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2, 0], np.float32)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    expected = -log_softmax[np.arange(6), labels.astype(int)]
    got = losses.softmax_cross_entropy(tf.constant(logits), tf.constant(labels), tf.constant(WEIGHTS[:6]))
    np.testing.assert_allclose(got.numpy(), weighted_mean(expected, WEIGHTS[:6]), rtol=1e-5)


def numpy_pairwise(logits, labels, groups, weights):
    total, norm = 0.0, 0.0
    for i in range(len(logits)):
        for j in range(len(logits)):
            if groups[i] == groups[j] and labels[i] > labels[j]:
                pair_weight = weights[i] * weights[j]
                total += pair_weight * np.log1p(np.exp(-(float(logits[i]) - float(logits[j]))))
                norm += pair_weight
    return total / norm if norm else 0.0


@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_pairwise_logistic(weights):
    w = np.ones(12) if weights is None else weights
    got = losses.pairwise_logistic(tf.constant(LOGITS), tf.constant(LABELS), tf.constant(GROUPS), weights)
    np.testing.assert_allclose(got.numpy(), numpy_pairwise(LOGITS, LABELS, GROUPS, w), rtol=1e-5)


def test_pairwise_logistic_without_pairs_is_zero():
    labels = np.zeros(12, np.float32)
    got = losses.pairwise_logistic(tf.constant(LOGITS), tf.constant(labels), tf.constant(GROUPS))
    assert got.numpy() == 0.0


def numpy_listwise(logits, labels, groups, weights):
    total, norm = 0.0, 0.0
    for g in np.unique(groups):
        rows = (groups == g) & (weights > 0)
        if labels[rows].sum() <= 0:
            continue
        s = logits[rows].astype(np.float64)
        log_softmax = s - s.max() - np.log(np.exp(s - s.max()).sum())
        loss = -(labels[rows] / labels[rows].sum() * log_softmax).sum()
        group_weight = weights[rows].mean()
        total += group_weight * loss
        norm += group_weight
    return total / norm if norm else 0.0


@pytest.mark.parametrize("weights", [None, WEIGHTS, np.where(np.arange(12) % 3 == 0, 0.0, 1.0)])
def test_listwise_softmax(weights):
    w = np.ones(12) if weights is None else np.asarray(weights, np.float32)
    got = losses.listwise_softmax(tf.constant(LOGITS), tf.constant(LABELS), tf.constant(GROUPS),
                                  None if weights is None else tf.constant(w))
    np.testing.assert_allclose(got.numpy(), numpy_listwise(LOGITS, LABELS, GROUPS, w), rtol=1e-5)


def test_listwise_gradient_is_finite_with_large_logits():
    logits = tf.Variable(np.array([80.0, -80.0, 50.0, 0.0], np.float32))
    with tf.GradientTape() as tape:
        loss = losses.listwise_softmax(logits, tf.constant([1.0, 0.0, 0.0, 1.0]),
                                       tf.constant([b"a", b"a", b"b", b"b"]))
    assert np.all(np.isfinite(tape.gradient(loss, logits).numpy()))
