"""RetrievalModel: a two-tower model, query features -> embedding <- item features.

    model = build_model(config)                  # models.compiler, for model_config.retrieval
    q = model.query_embedding(features)          # [B, D]
    c = model.item_embedding(features)           # [B, D]

Both towers read one FeatureGroups layer (so they may share embedding tables),
each through its own backbone. train_step minimises the softmax of each query's
positive over the batch's positives (gathered over replicas), sampled negatives
and hard negatives (models/retrieval_losses.py).
"""

import numpy as np
import tensorflow as tf
import tf_keras

from easyrank.backbone import InputRef, gather
from easyrank.models.retrieval_losses import candidate_softmax_loss, gather_global


class Tower(tf_keras.layers.Layer):
    """The feature groups it reads -> its backbone -> the output block, L2-normalised for cosine."""

    def __init__(self, backbone, groups, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.groups = tuple(groups)
        self.normalize = normalize

    def call(self, feature_outputs, training=None):
        blocks = self.backbone(feature_outputs, training=training)
        embedding = tf.cast(gather(InputRef(self.backbone.output_block), feature_outputs, blocks),
                            tf.float32)
        return tf.math.l2_normalize(embedding, axis=-1) if self.normalize else embedding


class RetrievalModel(tf_keras.Model):
    """Two towers over shared feature groups, trained with a sampled softmax.

    Args:
      feature_groups: a features.FeatureGroups layer holding both towers' groups.
      query_tower, item_tower: Tower layers.
      input_fields: [(name, tf.DType, default)] of every feature input.
      item_id_field: the input field identifying the positive item.
      temperature: training scores are similarity / temperature.
      estimator: a FrequencyEstimator for logQ correction, or None.
      remove_accidental_hits: see candidate_softmax_loss.
      global_batch_negatives: under several replicas, every replica's positives are
        negatives for every query (else each replica's own batch only).
      corpus: {field: constant tensor [N]} of the candidate items' item-tower inputs
        plus "__id__" (their ids as strings), for sampled and hard negatives; or None.
      num_negatives: extra negatives a step from the corpus (0: none).
      negative_logits: [N] log sampling weights (None: uniform).
      hard_negative_fields: input fields each holding one hard negative id a row.
      sample_weight_field: the target holding per-row weights, or None.
      loss_reduction: "mean" or "sum" of the rows' losses over the global batch.
    """

    def __init__(self, feature_groups, query_tower, item_tower, input_fields, item_id_field,
                 temperature=1.0, estimator=None, remove_accidental_hits=True,
                 global_batch_negatives=True, corpus=None, num_negatives=0, negative_logits=None,
                 hard_negative_fields=(), sample_weight_field=None, loss_reduction="mean",
                 **kwargs):
        super().__init__(name="retrieval_model", **kwargs)
        self.feature_groups = feature_groups
        self.query_tower = query_tower
        self.item_tower = item_tower
        self.input_fields = list(input_fields)
        self.item_id_field = item_id_field
        self.temperature = temperature
        self.estimator = estimator
        self.remove_accidental_hits = remove_accidental_hits
        self.global_batch_negatives = global_batch_negatives
        self._corpus = _Untracked(corpus)
        self.num_negatives = num_negatives
        self._negative_logits = _Untracked(negative_logits)
        self.hard_negative_fields = tuple(hard_negative_fields)
        self.sample_weight_field = sample_weight_field
        self.loss_reduction = loss_reduction
        self.tasks = ()  # no ranking tasks (the train loop's multi-task hooks see none)
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        if corpus is not None:
            ids = corpus["__id__"]
            self._row_of = _Untracked(tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(ids, tf.range(tf.size(ids, out_type=tf.int64))),
                default_value=-1))

    def query_embedding(self, features, training=False):
        groups = self.feature_groups(features, groups=self.query_tower.groups)
        return self.query_tower(groups, training=training)

    def item_embedding(self, features, training=False):
        groups = self.feature_groups(features, groups=self.item_tower.groups)
        return self.item_tower(groups, training=training)

    def call(self, features, training=None):
        return {"query_embedding": self.query_embedding(features, training=training),
                "item_embedding": self.item_embedding(features, training=training)}

    def compute_loss_of(self, features, targets, training):
        """The sampled-softmax loss of a batch (see the class docstring)."""
        query = self.query_embedding(features, training=training)
        positives = self.item_embedding(features, training=training)
        ids = fingerprint(features[self.item_id_field])
        if self.global_batch_negatives:
            positives, all_ids = gather_global((positives, ids))
        else:
            all_ids = ids
        probability = None
        if self.estimator is not None:
            step = tf.cast(self.optimizer.iterations, tf.float32) + 1.0 if training else None
            probability = (self.estimator.update(all_ids, step) if training
                           else self.estimator.probability(all_ids))
        extra = extra_ids = extra_probability = hard = hard_ids = hard_valid = None
        if self.num_negatives and training:
            extra, extra_ids, extra_probability = self._sampled_negatives()
        if self.hard_negative_fields:
            hard, hard_ids, hard_valid = self._hard_negatives(features, training)
        weights = targets.get(self.sample_weight_field) if self.sample_weight_field else None
        return candidate_softmax_loss(
            query, positives, all_ids, probability, extra, extra_ids, extra_probability,
            hard, hard_ids, hard_valid=hard_valid, temperature=self.temperature,
            remove_accidental_hits=self.remove_accidental_hits, sample_weight=weights,
            reduction=self.loss_reduction)

    def _corpus_features(self, rows):
        corpus = self._corpus.value
        return {name: tf.gather(values, rows) for name, values in corpus.items() if name != "__id__"}

    def _sampled_negatives(self):
        corpus = self._corpus.value
        size = tf.size(corpus["__id__"], out_type=tf.int64)
        logits = self._negative_logits.value
        if logits is None:
            rows = tf.random.uniform([self.num_negatives], 0, size, dtype=tf.int64)
            expected = tf.fill([self.num_negatives], self.num_negatives / tf.cast(size, tf.float32))
        else:
            rows = tf.random.categorical(logits[None, :], self.num_negatives, dtype=tf.int64)[0]
            expected = self.num_negatives * tf.gather(tf.nn.softmax(logits), rows)
        embeddings = self.item_embedding(self._corpus_features(rows), training=True)
        return embeddings, fingerprint(tf.gather(corpus["__id__"], rows)), expected

    def _hard_negatives(self, features, training):
        ids = tf.stack([_as_string(features[f]) for f in self.hard_negative_fields], axis=1)
        rows = self._row_of.value.lookup(ids)  # [B, H], -1 where unknown or empty
        valid = rows >= 0
        flat = self.item_embedding(self._corpus_features(tf.reshape(tf.maximum(rows, 0), [-1])),
                                   training=training)
        return tf.reshape(flat, [tf.shape(ids)[0], ids.shape[1], -1]), fingerprint(ids), valid

    def train_step(self, data):
        features, targets = data
        self.feature_groups.update_dynamic_tables(features)
        with tf.GradientTape() as tape:
            loss = self.compute_loss_of(features, targets, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            # Replicas' gradients are summed: a mean is divided by their count; a sum of each
            # replica's own rows adds up to the global batch's sum as it is.
            scaled = loss if self.loss_reduction == "sum" else loss / replicas
            if self.losses:
                regularization = tf.add_n(self.losses)
                loss += regularization
                scaled += regularization / replicas
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        features, targets = data
        self.loss_tracker.update_state(self.compute_loss_of(features, targets, training=False))
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    def dummy_features(self, batch_size=1):
        """A batch of default values for every input field (builds the variables)."""
        defaults = {name: tf.constant(default, dtype=dtype) for name, dtype, default in self.input_fields}
        return {name: tf.broadcast_to(value, [batch_size] + value.shape.as_list())
                for name, value in defaults.items()}

    def embed_corpus(self, features, batch_size=4096):
        """[N, D] numpy item embeddings of {field: numpy [N]} item features, in batches."""
        size = len(next(iter(features.values())))
        fn = tf.function(lambda f: self.item_embedding(f, training=False))
        parts = []
        for start in range(0, size, batch_size):
            parts.append(fn({k: tf.constant(v[start:start + batch_size]) for k, v in features.items()}).numpy())
        return np.concatenate(parts)


def _as_string(ids):
    return ids if ids.dtype == tf.string else tf.strings.as_string(ids)


def fingerprint(ids):
    """int64 fingerprints of item ids (strings or numbers): what the loss compares and the
    replicas gather (collectives carry no strings); collisions are negligible (2^62 values)."""
    return tf.strings.to_hash_bucket_fast(_as_string(ids), 1 << 62)


class _Untracked:
    """Hides a value from Keras/SavedModel attribute tracking."""

    def __init__(self, value):
        self.value = value
