"""Per-row and per-group ranking losses on tensors, each the weighted mean of its terms.

Every function returns a scalar: sum(w * l) / sum(w) over the rows (or pairs, or
groups) it is defined on, 0 when there are none. `weights` is None or a [B]
tensor; a row of weight 0 (a masked-out row) contributes nothing.

    binary_cross_entropy  l = -y log p - (1 - y) log(1 - p),  p = sigmoid(s)
    focal                 l = -a_t (1 - p_t)^gamma log p_t     (Lin et al., 2017)
    mean_squared_error    l = (s - y)^2
    softmax_cross_entropy l = -log softmax(s)[y]            (s: [B, C], y: class id)
    pairwise_logistic     l_ij = log(1 + exp(-(s_i - s_j)))  for y_i > y_j in one group
                          (RankNet, Burges et al., 2005)
    listwise_softmax      l_g = -sum_i (y_i / sum_j y_j) log softmax_g(s)_i per group g
                          with a positive label (ListNet top-1, Cao et al., 2007)
"""

import tensorflow as tf


def weighted_mean(losses, weights):
    """sum(w * l) / sum(w) (0 when the weights sum to 0); weights None = all 1."""
    if weights is None:
        weights = tf.ones_like(losses)
    weights = tf.cast(weights, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * weights), tf.reduce_sum(weights))


def binary_cross_entropy(logits, labels, weights=None):
    labels = tf.cast(labels, tf.float32)
    return weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), weights)


def focal(logits, labels, weights=None, gamma=2.0, alpha=-1.0):
    """Binary focal loss; alpha < 0 weighs both classes 1, else positives alpha and negatives 1 - alpha."""
    labels = tf.cast(labels, tf.float32)
    cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    probs = tf.sigmoid(logits)
    p_t = labels * probs + (1.0 - labels) * (1.0 - probs)
    losses = tf.pow(1.0 - p_t, gamma) * cross_entropy
    if alpha >= 0:
        losses *= labels * alpha + (1.0 - labels) * (1.0 - alpha)
    return weighted_mean(losses, weights)


def mean_squared_error(predictions, labels, weights=None):
    return weighted_mean(tf.square(predictions - tf.cast(labels, tf.float32)), weights)


def softmax_cross_entropy(logits, labels, weights=None):
    """logits [B, C]; labels [B] integer class ids in [0, C)."""
    labels = tf.cast(tf.round(tf.cast(labels, tf.float32)), tf.int32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return weighted_mean(losses, weights)


def pairwise_logistic(logits, labels, groups, weights=None):
    """RankNet loss over the pairs of rows of one group (same `groups` value) with y_i > y_j.

    A pair's weight is w_i * w_j; the pairs are those within the batch.
    """
    labels = tf.cast(labels, tf.float32)
    w = tf.ones_like(logits) if weights is None else tf.cast(weights, tf.float32)
    same_group = tf.equal(groups[:, None], groups[None, :])
    ordered = tf.greater(labels[:, None], labels[None, :])
    mask = tf.cast(tf.logical_and(same_group, ordered), tf.float32) * w[:, None] * w[None, :]
    diff = logits[:, None] - logits[None, :]
    losses = tf.nn.softplus(-diff)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * mask), tf.reduce_sum(mask))


def listwise_softmax(logits, labels, groups, weights=None):
    """Softmax cross-entropy of each group's scores against its normalised labels.

    Groups whose labels sum to 0 are skipped; a group's weight is the mean of its rows' weights.
    """
    labels = tf.cast(labels, tf.float32)
    w = tf.ones_like(logits) if weights is None else tf.cast(weights, tf.float32)
    labels = labels * tf.cast(w > 0, tf.float32)
    _, segment = tf.unique(groups)
    num = tf.reduce_max(segment) + 1
    masked = tf.where(w > 0, logits, tf.fill(tf.shape(logits), -1e9))
    top = tf.math.unsorted_segment_max(masked, segment, num)
    exp = tf.exp(masked - tf.gather(top, segment))
    log_norm = tf.math.log(tf.math.unsorted_segment_sum(exp, segment, num)) + top
    log_softmax = masked - tf.gather(log_norm, segment)
    label_sum = tf.math.unsorted_segment_sum(labels, segment, num)
    target = tf.math.divide_no_nan(labels, tf.gather(label_sum, segment))
    group_loss = -tf.math.unsorted_segment_sum(target * tf.where(w > 0, log_softmax, 0.0), segment, num)
    rows = tf.math.unsorted_segment_sum(tf.cast(w > 0, tf.float32), segment, num)
    group_weight = tf.math.divide_no_nan(tf.math.unsorted_segment_sum(w, segment, num), rows)
    group_weight *= tf.cast(label_sum > 0, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(group_loss * group_weight), tf.reduce_sum(group_weight))
