"""Retrieval losses: softmax over sampled candidates with sampling-bias correction.

    estimator = FrequencyEstimator(num_buckets=2**20, learning_rate=0.01)
    probability = estimator.update(item_ids, step)      # in-stream p(item in a batch)
    loss = candidate_softmax_loss(query, positives, ids, probability, ...)

The softmax (as tfrs.tasks.Retrieval's, with tfrs' accidental-hit removal) runs over, for every query of the batch:
  * the batch's positives (in-batch negatives), corrected by log p(item)
    estimated in-stream (Yi et al., "Sampling-Bias-Corrected Neural Modeling
    for Large Corpus Item Recommendations", RecSys 2019, Algorithm 2);
  * optional extra negatives shared by the batch (sampled from the candidate
    file), corrected by the log of their expected count in the sample;
  * optional hard negatives given per row: each counts for its own row only
    (score_mask), uncorrected;
and candidates equal to the row's positive (accidental hits) are removed.
The formulas are in docs/retrieval.md.
"""

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

# Probability floor: log(p) of an item never seen stays finite.
MIN_PROBABILITY = 1e-6


class FrequencyEstimator(tf_keras.layers.Layer):
    """Streaming estimate of how often each item appears in a batch (Yi et al. 2019).

    Two arrays of `num_buckets` entries indexed by a hash of the item id: A, the
    step the bucket was last seen, and B, a moving average of the gap between
    sightings: B <- (1 - a) B + a (t - A); A <- t. The estimated probability of
    the item in one batch is 1 / B. Items hashing to one bucket share it.

    Args:
      num_buckets: hash buckets, >= 1 (a few times the number of items).
      learning_rate: a in (0, 1], the moving average's step.
      initial_gap: B of a bucket never seen (steps): its probability is 1 / initial_gap.

    Under a tf.distribute strategy the arrays are per replica (ON_READ) and every
    replica must update them with the same ids (the gathered global batch).
    """

    def __init__(self, num_buckets=1 << 20, learning_rate=0.01, initial_gap=100.0, **kwargs):
        super().__init__(**kwargs)
        if num_buckets < 1:
            raise ValueError(f"num_buckets must be >= 1. Received: num_buckets={num_buckets}")
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1]. Received: learning_rate={learning_rate}")
        if initial_gap < 1.0:
            raise ValueError(f"initial_gap must be >= 1. Received: initial_gap={initial_gap}")
        self.num_buckets = num_buckets
        self.learning_rate = learning_rate
        self.initial_gap = initial_gap

    def build(self, input_shape=None):
        kwargs = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.last_step = self.add_weight(
            name="last_step", shape=[self.num_buckets], dtype=tf.float32,
            initializer="zeros", **kwargs)
        self.gap = self.add_weight(
            name="gap", shape=[self.num_buckets], dtype=tf.float32,
            initializer=tf_keras.initializers.Constant(self.initial_gap), **kwargs)
        super().build(input_shape)

    def buckets(self, ids):
        ids = ids if ids.dtype == tf.string else tf.strings.as_string(ids)
        return tf.strings.to_hash_bucket_fast(ids, self.num_buckets)

    def probability(self, ids):
        """Estimated probability of each id in one batch, [N], without updating."""
        if not self.built:
            self.build()
        gap = tf.gather(self.gap, self.buckets(ids))
        return tf.clip_by_value(1.0 / tf.maximum(gap, 1.0), MIN_PROBABILITY, 1.0)

    def update(self, ids, step):
        """Records the batch `ids` seen at `step` (a number >= 1); returns probability(ids) after.

        A bucket seen for the first time keeps initial_gap (its last step is unknown).
        An id repeated in the batch is recorded once.
        """
        if not self.built:
            self.build()
        buckets, _ = tf.unique(self.buckets(tf.reshape(ids, [-1])))
        step = tf.cast(step, tf.float32)
        last = tf.gather(self.last_step, buckets)
        gap = tf.gather(self.gap, buckets)
        a = self.learning_rate
        new_gap = tf.where(last > 0, (1.0 - a) * gap + a * (step - last), gap)
        with tf.control_dependencies([new_gap]):
            updates = [_scatter(self.gap, buckets, new_gap),
                       _scatter(self.last_step, buckets, tf.fill(tf.shape(buckets), step))]
        with tf.control_dependencies(updates):
            return self.probability(ids)

    def call(self, ids):
        return self.probability(ids)

    def get_config(self):
        return {**super().get_config(), "num_buckets": self.num_buckets,
                "learning_rate": self.learning_rate, "initial_gap": self.initial_gap}


def _scatter(variable, indices, values):
    """variable[indices] = values. A per-replica (ON_READ) variable has no scatter_update:
    under several replicas the whole local copy is assigned."""
    if tf.distribute.in_cross_replica_context() or tf.distribute.get_strategy().num_replicas_in_sync == 1:
        return variable.scatter_update(tf.IndexedSlices(values, indices))
    return variable.assign(tf.tensor_scatter_nd_update(variable, indices[:, None], values))


def candidate_softmax_loss(query, positives, positive_ids, positive_probability=None,
                           extra=None, extra_ids=None, extra_probability=None,
                           hard=None, hard_ids=None, hard_valid=None, temperature=1.0,
                           remove_accidental_hits=True, sample_weight=None, reduction="mean"):
    """Mean (or summed) softmax cross-entropy of each query's positive against the candidates.

    Args:
      query: [B, D] query embeddings (already normalised for cosine).
      positives: [P, D] candidate embeddings whose first B rows are the queries'
        positives, row i for query i; rows beyond B (other replicas' positives under
        global-batch negatives) are negatives for every query.
      positive_ids: [P] ids of `positives` (string or int).
      positive_probability: [P] in-stream probability of each positive, or None for
        no logQ correction.
      extra: [M, D] negatives shared by every query, or None; extra_ids [M];
        extra_probability [M] their expected count in the sample (num * q(item)).
      hard: [B, H, D] per-row hard negatives, or None; hard_ids [B, H]; hard_valid
        [B, H] bool, False for a slot that holds no negative (None: all hold one).
      temperature: scores are (q . c) / temperature.
      remove_accidental_hits: a candidate whose id equals the row's positive id
        (other than the positive itself) is left out of that row's softmax.
      sample_weight: [B] or None.
      reduction: "mean" (divide by B) or "sum" (as tfrs.tasks.Retrieval).
    Returns:
      A scalar: sum_i w_i CE_i / B ("mean") or sum_i w_i CE_i ("sum").
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum'. Received: reduction={reduction!r}")
    batch = tf.shape(query)[0]
    columns, ids, probs, masks = [positives], [positive_ids], [], []
    num_positive = tf.shape(positives)[0]
    correct = positive_probability is not None
    if correct:
        probs.append(positive_probability)
    masks.append(tf.ones([batch, num_positive], tf.bool))
    if extra is not None:
        columns.append(extra)
        ids.append(extra_ids)
        if correct:
            probs.append(extra_probability)
        masks.append(tf.ones([batch, tf.shape(extra)[0]], tf.bool))
    if hard is not None:
        num_hard = tf.shape(hard)[1]
        columns.append(tf.reshape(hard, [-1, tf.shape(hard)[2]]))
        ids.append(tf.reshape(hard_ids, [-1]))
        if correct:  # given, not sampled: no correction (probability 1)
            probs.append(tf.ones([batch * num_hard], tf.float32))
        # Row i sees only its own hard negatives, columns [i*H, (i+1)*H).
        own = tf.repeat(tf.range(batch), num_hard)
        mask = tf.equal(tf.range(batch)[:, None], own[None, :])
        if hard_valid is not None:
            mask &= tf.reshape(hard_valid, [1, -1])
        masks.append(mask)
    candidates = tf.concat(columns, axis=0)
    candidate_ids = tf.concat([_as_string(i) for i in ids], axis=0)
    scores = tf.matmul(query, candidates, transpose_b=True) / temperature
    if correct:
        # Not tfrs' SamplingProbablityCorrection: it clips p at 1, and the expected count
        # of a frequently sampled negative exceeds 1.
        scores -= tf.math.log(tf.maximum(tf.concat(probs, axis=0), MIN_PROBABILITY))[None, :]
    labels = tf.eye(batch, tf.shape(candidates)[0])
    if remove_accidental_hits:
        scores = tfrs.layers.loss.RemoveAccidentalHits()(labels, scores, candidate_ids)
    scores = tf.where(tf.concat(masks, axis=1), scores, tfrs.tasks.retrieval.MIN_FLOAT)
    loss = tf_keras.losses.CategoricalCrossentropy(
        from_logits=True, reduction=tf_keras.losses.Reduction.SUM)(
            labels, scores, sample_weight=sample_weight)
    return loss if reduction == "sum" else loss / tf.cast(batch, loss.dtype)


def _as_string(ids):
    return ids if ids.dtype == tf.string else tf.strings.as_string(ids)


def gather_global(values, replica_context=None):
    """All replicas' `values` along axis 0, this replica's rows first.

    Under a strategy with several replicas (Mirrored, MultiWorkerMirrored) every
    replica sees the global batch's candidates, with its own positives in rows
    [0, B) as candidate_softmax_loss expects; gradients flow back to each
    replica's own rows. With one replica it returns `values` unchanged.
    """
    context = replica_context or tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    # One collective after another (control dependencies): every replica must issue them
    # in the same order.
    previous = context.all_gather(tf.shape(tf.nest.flatten(values)[0])[:1], axis=0)
    offset = tf.reduce_sum(previous[:context.replica_id_in_sync_group])
    gathered = []
    for value in tf.nest.flatten(values):
        with tf.control_dependencies([previous]):
            previous = context.all_gather(value, axis=0)
        gathered.append(tf.roll(previous, shift=-offset, axis=0))
    return tf.nest.pack_sequence_as(values, gathered)
