"""match_feature (issue 28): how strongly a row's key appears in a key-value map of another field."""

import tensorflow as tf

from easyrank.features.columns import _FLOAT_PATTERN
from easyrank.features.scalar_output import ScalarColumn, as_text, tokens


class MatchColumn(ScalarColumn):
    """Sum of the weights of the map entries whose key is the row's key (WEIGHT), or whether
    one is (HIT) -> [B, 1] or its bucket embedding. An entry without a weight weighs 1."""

    def __init__(self, name, map_input, key_input, secondary_key_input, separator, kv_separator,
                 key_joiner, hit, normalizer, boundaries, embedding_name, embedding_dim):
        super().__init__(name, map_input, normalizer, boundaries, embedding_name, embedding_dim)
        self.key_input, self.secondary_key_input = key_input, secondary_key_input
        self.input_names = [map_input, key_input] + ([secondary_key_input] if secondary_key_input else [])
        self.separator, self.kv_separator, self.key_joiner = separator, kv_separator, key_joiner
        self.hit = hit

    def value(self, features):
        keys = as_text(tf.reshape(features[self.key_input], [-1]))
        if self.secondary_key_input:
            second = as_text(tf.reshape(features[self.secondary_key_input], [-1]))
            keys = tf.strings.join([keys, second], separator=self.key_joiner)
        entries = tokens(features[self.input_name], self.separator)
        pairs = tf.strings.split(entries.flat_values, self.kv_separator, maxsplit=1).to_tensor(
            default_value="", shape=[None, 2])
        weight_text = pairs[:, 1]
        numeric = tf.strings.regex_full_match(weight_text, _FLOAT_PATTERN) | tf.equal(weight_text, "")
        check = tf.debugging.Assert(tf.reduce_all(numeric), [
            f"match feature {self.name!r}: input field {self.input_name!r} is not a map of "
            f"key{self.kv_separator}number entries joined by {self.separator!r}; entries:",
            tf.boolean_mask(entries.flat_values, ~numeric)], summarize=3)
        with tf.control_dependencies([check]):
            weights = tf.strings.to_number(tf.where(tf.equal(weight_text, ""), "1", weight_text))
        rows = entries.value_rowids()
        match = tf.equal(pairs[:, 0], tf.gather(keys, rows))
        count = tf.shape(keys, out_type=tf.int64)[0]
        if self.hit:
            hits = tf.math.unsorted_segment_max(tf.cast(match, tf.float32), rows, count)
            return tf.maximum(hits, 0.0)  # rows without entries get the segment-max identity
        return tf.math.unsorted_segment_sum(tf.where(match, weights, 0.0), rows, count)
