"""The output of a feature that computes one number per row (match, overlap, expression
features, issue 28): normalized as a RawFeature, used as a value [B, 1] or bucketized and
embedded (boundaries)."""

import tensorflow as tf

from easyrank.features.columns import Column, RawColumn


class ScalarColumn(Column):
    """Base of the columns whose transform yields a float [B]: subclasses define `value`."""

    def __init__(self, name, input_name, normalizer, boundaries, embedding_name, embedding_dim):
        self.output = RawColumn(name, name, normalizer, boundaries, embedding_name,
                                embedding_dim if boundaries else 0)
        super().__init__(name, input_name, self.output.width)
        self.embedding_name = embedding_name

    def table_spec(self):
        return self.output.table_spec()

    def value(self, features):
        """The raw number of each row, float32 [B]."""
        raise NotImplementedError

    def __call__(self, features, tables):
        return self.output({self.name: self.value(features)}, tables)


def tokens(values, separator):
    """[B] joined strings, or a [B, N] list padded with "" (is_list input) -> ragged [B, None]
    of the non-empty pieces split by `separator`."""
    parts = tf.strings.split(values, separator)
    if parts.ragged_rank > 1:
        parts = parts.merge_dims(1, 2)
    return tf.ragged.boolean_mask(parts, parts != "")


def as_text(values):
    """Strings as they are, numbers as their decimal text."""
    return values if values.dtype == tf.string else tf.strings.as_string(values)
