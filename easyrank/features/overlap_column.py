"""overlap_feature (issue 28): the tokens two text or tag fields share."""

import tensorflow as tf

from easyrank.features.scalar_output import ScalarColumn, tokens

COUNT, LEFT_RATIO, RIGHT_RATIO, UNION_RATIO = "count", "left_ratio", "right_ratio", "union_ratio"


class OverlapColumn(ScalarColumn):
    """|L & R| (COUNT), / |L|, / |R| or / |L | R| of the distinct tokens of two fields -> [B, 1]
    or its bucket embedding; a ratio with an empty denominator is 0."""

    def __init__(self, name, left_input, right_input, left_separator, right_separator, method, lowercase,
                 normalizer, boundaries, embedding_name, embedding_dim):
        super().__init__(name, left_input, normalizer, boundaries, embedding_name, embedding_dim)
        self.right_input = right_input
        self.input_names = [left_input, right_input]
        self.separators = (left_separator, right_separator)
        self.method, self.lowercase = method, lowercase

    def _set(self, values, separator, rows):
        parts = tokens(values, separator)
        if self.lowercase:
            parts = tf.ragged.map_flat_values(tf.strings.lower, parts, encoding="utf-8")
        # A SparseTensor [B, longest] whose last dimension tf.sets treats as the set.
        return tf.sparse.reset_shape(parts.to_sparse(), [rows, tf.maximum(tf.reduce_max(
            tf.concat([parts.row_lengths(), [0]], 0)), 1)])

    def value(self, features):
        left, right = features[self.input_name], features[self.right_input]
        rows = tf.shape(left, out_type=tf.int64)[0]
        a = self._set(left, self.separators[0], rows)
        b = self._set(right, self.separators[1], rows)
        common = tf.cast(tf.sets.size(tf.sets.intersection(a, b)), tf.float32)
        if self.method == COUNT:
            return common
        size_a = tf.cast(tf.sets.size(a), tf.float32)
        size_b = tf.cast(tf.sets.size(b), tf.float32)
        total = {LEFT_RATIO: size_a, RIGHT_RATIO: size_b, UNION_RATIO: size_a + size_b - common}[self.method]
        return tf.math.divide_no_nan(common, total)
