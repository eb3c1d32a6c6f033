"""Sequence features: a variable-length history -> padded embeddings and lengths.

A history arrives as one joined string per row ("318;296;2571", the CSV and
raw_features form, shape [B]) or as a list padded with "" (the tf.Example form,
shape [B, N]); both give the same values. Empty values are dropped, the most
recent (last) `max_len` values are kept, and the ids are padded to `max_len`.
"""

import collections

import tensorflow as tf

from easyrank.features.columns import Column

# embeddings: [B, max_len, D], zero at padding positions; lengths: [B] int32.
SequenceValue = collections.namedtuple("SequenceValue", ["embeddings", "lengths"])


def split_values(values, separator):
    """[B] joined strings or [B, N] lists -> ragged [B, (k)] of non-empty values."""
    values = tf.convert_to_tensor(values)
    if values.dtype != tf.string:
        values = tf.strings.as_string(values)
    parts = tf.strings.split(values, separator)
    if parts.ragged_rank > 1:
        parts = parts.merge_dims(1, 2)
    return tf.ragged.boolean_mask(parts, parts != "")


def truncate_and_pad(values, max_len, pad=""):
    """Ragged [B, (k)] -> (dense [B, max_len] of the last max_len values, lengths [B])."""
    values = values[:, -max_len:]
    lengths = tf.cast(values.row_lengths(), tf.int32)
    return values.to_tensor(default_value=pad, shape=[None, max_len]), lengths


class SequenceColumn(Column):
    """A delimited or listed history -> SequenceValue(embeddings [B, T, D], lengths [B])."""

    is_sequence = True

    def __init__(self, name, input_name, index, embedding_name, embedding_dim, separator,
                 max_len):
        super().__init__(name, input_name, embedding_dim)
        self.index = index
        self.embedding_name = embedding_name
        self.separator = separator
        self.max_len = max_len

    def table_spec(self):
        return self.embedding_name, self.index.size, self.width

    def index_values(self, features):
        """The raw values this column looks up in a batch (for a dynamic table's update)."""
        return split_values(features[self.input_name], self.separator)[:, -self.max_len:].flat_values

    def __call__(self, features, tables):
        values = split_values(features[self.input_name], self.separator)
        padded, lengths = truncate_and_pad(values, self.max_len)
        ids = self.index(padded)
        vectors = tf.nn.embedding_lookup(tables[self.embedding_name], ids)
        mask = tf.sequence_mask(lengths, self.max_len, dtype=vectors.dtype)
        return SequenceValue(vectors * mask[:, :, None], lengths)
