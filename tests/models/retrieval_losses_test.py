"""easyrank.models.retrieval_losses against NumPy re-statements (docs/retrieval.md)."""

import easyrank  # noqa: F401

# isort: split

import numpy as np
import pytest
import tensorflow as tf

from easyrank.models.retrieval_losses import FrequencyEstimator, candidate_softmax_loss

RNG = np.random.default_rng(3)
B, D, M, H = 6, 4, 5, 2
QUERY = RNG.normal(size=(B, D)).astype(np.float32)
POS = RNG.normal(size=(B, D)).astype(np.float32)
POS_IDS = np.array([b"a", b"b", b"a", b"c", b"d", b"e"])  # "a" twice: an accidental hit
POS_P = RNG.uniform(0.05, 0.5, size=B).astype(np.float32)
EXTRA = RNG.normal(size=(M, D)).astype(np.float32)
EXTRA_IDS = np.array([b"x", b"b", b"y", b"z", b"w"])  # "b" is row 1's positive
EXTRA_P = RNG.uniform(0.1, 2.0, size=M).astype(np.float32)
HARD = RNG.normal(size=(B, H, D)).astype(np.float32)
HARD_IDS = np.array([[b"h%d%d" % (i, j) for j in range(H)] for i in range(B)])
HARD_IDS[3, 1] = b"c"  # row 3's own positive given as a hard negative
WEIGHTS = RNG.uniform(0.5, 2.0, size=B).astype(np.float32)


def reference(temperature=1.0, correct=True, extra=False, hard=False, remove=True, weights=None,
              valid=None):
    """Row by row: the softmax over [in-batch, extra, own hard] candidates, positive at column i."""
    losses = []
    for i in range(B):
        cands, ids, logq = list(POS), list(POS_IDS), list(np.log(POS_P))
        if extra:
            cands += list(EXTRA)
            ids += list(EXTRA_IDS)
            logq += list(np.log(EXTRA_P))
        if hard:
            own = [j for j in range(H) if valid is None or valid[i, j]]
            cands += list(HARD[i][own])
            ids += list(HARD_IDS[i][own])
            logq += [0.0] * len(own)
        logits = np.array(cands, np.float64) @ QUERY[i].astype(np.float64) / temperature
        if correct:
            logits -= np.array(logq)
        keep = [j == i or not (remove and ids[j] == POS_IDS[i]) for j in range(len(ids))]
        logits = logits[keep]
        positive = int(np.sum(keep[:i]))
        m = logits.max()
        ce = np.log(np.exp(logits - m).sum()) + m - logits[positive]
        losses.append(ce * (1.0 if weights is None else weights[i]))
    return np.sum(losses) / B


@pytest.mark.parametrize("temperature,correct,extra,hard,remove,weighted", [
    (1.0, False, False, False, False, False),  # plain in-batch softmax
    (0.2, True, False, False, True, False),    # logQ, temperature, accidental hits
    (1.0, True, True, False, True, False),     # + sampled negatives
    (0.5, True, True, True, True, True),       # + hard negatives, sample weights
    (1.0, False, False, True, False, False),   # hard negatives only, no removal
])
def test_candidate_softmax_loss_matches_numpy(temperature, correct, extra, hard, remove, weighted):
    got = candidate_softmax_loss(
        tf.constant(QUERY), tf.constant(POS), tf.constant(POS_IDS),
        positive_probability=tf.constant(POS_P) if correct else None,
        extra=tf.constant(EXTRA) if extra else None, extra_ids=tf.constant(EXTRA_IDS),
        extra_probability=tf.constant(EXTRA_P),
        hard=tf.constant(HARD) if hard else None, hard_ids=tf.constant(HARD_IDS),
        temperature=temperature, remove_accidental_hits=remove,
        sample_weight=tf.constant(WEIGHTS) if weighted else None)
    expected = reference(temperature, correct, extra, hard, remove, WEIGHTS if weighted else None)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_sum_reduction_is_tfrs_retrieval_loss():
    """reduction "sum" sums the rows' losses: tfrs.tasks.Retrieval's default, on the same batch."""
    import tensorflow_recommenders as tfrs
    got = candidate_softmax_loss(tf.constant(QUERY), tf.constant(POS), tf.constant(POS_IDS),
                                 remove_accidental_hits=False, reduction="sum")
    tfrs_loss = tfrs.tasks.Retrieval()(tf.constant(QUERY), tf.constant(POS))
    np.testing.assert_allclose(got.numpy(), tfrs_loss.numpy(), rtol=1e-5)
    np.testing.assert_allclose(got.numpy(), B * reference(correct=False, remove=False), rtol=1e-5)
    weighted = candidate_softmax_loss(
        tf.constant(QUERY), tf.constant(POS), tf.constant(POS_IDS), tf.constant(POS_P),
        sample_weight=tf.constant(WEIGHTS), reduction="sum")
    np.testing.assert_allclose(weighted.numpy(), B * reference(weights=WEIGHTS), rtol=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        candidate_softmax_loss(tf.constant(QUERY), tf.constant(POS), tf.constant(POS_IDS),
                               reduction="none")


def test_hard_negative_slots_without_a_negative_are_left_out():
    valid = np.ones((B, H), bool)
    valid[0, 1] = valid[4, 0] = False
    got = candidate_softmax_loss(
        tf.constant(QUERY), tf.constant(POS), tf.constant(POS_IDS), tf.constant(POS_P),
        hard=tf.constant(HARD), hard_ids=tf.constant(HARD_IDS), hard_valid=tf.constant(valid))
    np.testing.assert_allclose(got.numpy(), reference(hard=True, valid=valid), rtol=1e-5)
    assert abs(reference(hard=True, valid=valid) - reference(hard=True)) > 1e-3


def test_accidental_hit_removal_changes_the_loss():
    # Rows 0 and 2 share item "a": with removal each row's duplicate leaves the softmax.
    with_removal = reference(remove=True, correct=False)
    without = reference(remove=False, correct=False)
    assert abs(with_removal - without) > 1e-3


def test_int_ids_work_like_strings():
    ids = np.array([1, 2, 1, 3, 4, 5], np.int64)
    got = candidate_softmax_loss(tf.constant(QUERY), tf.constant(POS), tf.constant(ids))
    expected = candidate_softmax_loss(tf.constant(QUERY), tf.constant(POS),
                                      tf.constant([b"1", b"2", b"1", b"3", b"4", b"5"]))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


def estimator_reference(batches, num_buckets, a, initial_gap, bucket_of):
    last, gap = np.zeros(num_buckets), np.full(num_buckets, initial_gap)
    for step, ids in enumerate(batches, start=1):
        for b in sorted({bucket_of(i) for i in ids}):
            if last[b] > 0:
                gap[b] = (1 - a) * gap[b] + a * (step - last[b])
            last[b] = step
    return last, gap


def test_frequency_estimator_matches_the_papers_update():
    estimator = FrequencyEstimator(num_buckets=64, learning_rate=0.3, initial_gap=10.0)
    rng = np.random.default_rng(0)
    items = np.array([b"i%d" % k for k in range(12)])
    # Item k appears in a batch with probability falling with k.
    batches = [items[rng.random(12) < np.linspace(0.9, 0.05, 12)] for _ in range(300)]
    for step, ids in enumerate(batches, start=1):
        estimator.update(tf.constant(ids, tf.string), step)
    buckets = estimator.buckets(tf.constant(items)).numpy()
    bucket_of = dict(zip(items, buckets)).__getitem__
    last, gap = estimator_reference(batches, 64, 0.3, 10.0, bucket_of)
    np.testing.assert_allclose(estimator.last_step.numpy(), last)
    np.testing.assert_allclose(estimator.gap.numpy(), gap, rtol=1e-4)
    # The estimate tracks the true rate: frequent items near 0.9, rare near 0.05.
    p = estimator.probability(tf.constant(items)).numpy()
    assert p[0] > 0.7 and p[-1] < 0.2
    assert np.corrcoef(p, np.linspace(0.9, 0.05, 12))[0, 1] > 0.8


def test_frequency_estimator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="learning_rate must be in"):
        FrequencyEstimator(learning_rate=0.0)
    with pytest.raises(ValueError, match="num_buckets must be"):
        FrequencyEstimator(num_buckets=0)
