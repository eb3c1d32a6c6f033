"""Feature columns: the in-graph transform of one input field plus its embedding.

A column maps a dict of raw batched inputs to a [B, width] tensor. Transforms
(hashing, vocabulary look-up, bucketing, normalisation) are TensorFlow ops, so
they are part of every exported SavedModel. Embedding tables are created once
per embedding name and shared by the columns that name them.
"""

import tensorflow as tf
import tf_keras

from easyrank.errors import ConfigError


class Column:
    """Base class: `name`, output `width`, and `__call__(features, tables)`."""

    def __init__(self, name, input_name, width):
        self.name = name
        self.input_name = input_name
        self.width = width

    def table_spec(self):
        """(embedding name, rows, dim) of the table this column needs, or None."""
        return None


class IdColumn(Column):
    """One categorical id per row -> an embedding row."""

    def __init__(self, name, input_name, index, embedding_name, embedding_dim):
        super().__init__(name, input_name, embedding_dim)
        self.index = index
        self.embedding_name = embedding_name

    def table_spec(self):
        return self.embedding_name, self.index.size, self.width

    def __call__(self, features, tables):
        ids = self.index(features[self.input_name])
        return tf.nn.embedding_lookup(tables[self.embedding_name], ids)


class TagColumn(Column):
    """Separator-joined values, or a [B, N] list padded with "" -> pooled embedding (sum or
    mean; empty -> zeros)."""

    def __init__(self, name, input_name, index, embedding_name, embedding_dim, separator, mean):
        super().__init__(name, input_name, embedding_dim)
        self.index = index
        self.embedding_name = embedding_name
        self.separator = separator
        self.mean = mean

    def table_spec(self):
        return self.embedding_name, self.index.size, self.width

    def __call__(self, features, tables):
        values = tf.strings.split(features[self.input_name], self.separator)
        if values.ragged_rank > 1:  # a [B, N] list (is_list input): its elements, split too
            values = values.merge_dims(1, 2)
        values = tf.ragged.boolean_mask(values, values != "")
        ids = tf.ragged.map_flat_values(self.index, values)
        vectors = tf.ragged.map_flat_values(tf.nn.embedding_lookup, tables[self.embedding_name], ids)
        pooled = tf.reduce_sum(vectors, axis=1)
        if self.mean:
            counts = tf.cast(tf.maximum(ids.row_lengths(), 1), pooled.dtype)
            pooled = pooled / counts[:, None]
        return pooled


class RawColumn(Column):
    """A number -> normalized value [B, 1], a linear map [B, D], or a bucket embedding."""

    def __init__(self, name, input_name, normalizer, boundaries, embedding_name, embedding_dim):
        width = embedding_dim if embedding_dim else 1
        super().__init__(name, input_name, width)
        self.log1p = normalizer.log1p
        self.zscore = (normalizer.mean, normalizer.std) if normalizer.HasField("std") else None
        self.min_max = (normalizer.min, normalizer.max) if normalizer.HasField("min") else None
        self.boundaries = list(boundaries)
        self.embedding_name = embedding_name
        self.embedding_dim = embedding_dim

    def table_spec(self):
        if self.boundaries:
            return self.embedding_name, len(self.boundaries) + 1, self.embedding_dim
        if self.embedding_dim:
            return self.embedding_name, 1, self.embedding_dim
        return None

    def normalize(self, x):
        x = tf.cast(x, tf.float32)
        if self.log1p:
            x = tf.math.log1p(tf.maximum(x, 0.0))
        if self.zscore:
            mean, std = self.zscore
            x = (x - mean) / std
        if self.min_max:
            low, high = self.min_max
            x = tf.clip_by_value((x - low) / (high - low), 0.0, 1.0)
        return x

    def __call__(self, features, tables):
        x = self.normalize(features[self.input_name])
        if self.boundaries:
            buckets = tf.raw_ops.Bucketize(input=x, boundaries=self.boundaries)
            return tf.nn.embedding_lookup(tables[self.embedding_name], buckets)
        if self.embedding_dim:
            return x[:, None] * tables[self.embedding_name][0][None, :]
        return x[:, None]


class StringIndex:
    """Value -> row id: hashing, a vocabulary (list or asset file) or identity."""

    def __init__(self, feature, path):
        self.size = None
        self._table = None
        self._hash = None
        self._identity = None
        if feature.HasField("hash_bucket_size"):
            self._hash = feature.hash_bucket_size
            self.size = feature.hash_bucket_size
        elif getattr(feature, "num_buckets", 0):
            self._identity = feature.num_buckets
            self.size = feature.num_buckets + 1
        else:
            if feature.vocab_list:
                keys = list(feature.vocab_list)
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(keys), tf.range(len(keys), dtype=tf.int64))
                count = len(keys)
            else:
                try:
                    with open(feature.vocab_file, encoding="utf-8") as f:
                        count = sum(1 for _ in f)
                except OSError as e:
                    raise ConfigError(f"cannot read vocab_file: {e.strerror}.", path=path + ".vocab_file") from None
                init = tf.lookup.TextFileInitializer(
                    feature.vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
            self._table = tf.lookup.StaticVocabularyTable(init, max(feature.num_oov_buckets, 1))
            self.size = count + max(feature.num_oov_buckets, 1)

    def trackables(self):
        return [self._table] if self._table is not None else []

    def __call__(self, values):
        if self._identity is not None:
            values = tf.cast(values, tf.int64)
            inside = tf.logical_and(values >= 0, values < self._identity)
            return tf.where(inside, values, self._identity)
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        if self._hash is not None:
            return tf.strings.to_hash_bucket_fast(values, self._hash)
        return self._table.lookup(values)


def embedding_initializer():
    return tf_keras.initializers.RandomUniform(-0.05, 0.05)
