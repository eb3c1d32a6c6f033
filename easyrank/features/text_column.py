"""text_feature (issue 28): free text split into tokens in the graph, embedded and pooled."""

import tensorflow as tf

from easyrank.features.columns import TagColumn


class TextColumn(TagColumn):
    """Text -> (lowercased) tokens between matches of `split_pattern` (RE2), the first
    `max_tokens` (0: all) -> pooled embedding (sum or mean; no token -> zeros)."""

    def __init__(self, name, input_name, index, embedding_name, embedding_dim, split_pattern, lowercase,
                 max_tokens, mean):
        super().__init__(name, input_name, index, embedding_name, embedding_dim, " ", mean)
        self.split_pattern, self.lowercase, self.max_tokens = split_pattern, lowercase, max_tokens

    def tokens(self, text):
        """[B] strings -> ragged [B, None] tokens."""
        text = tf.reshape(text, [-1])
        if self.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        # Every match becomes one unit separator (U+001F), which is then the only split point.
        text = tf.strings.regex_replace(text, self.split_pattern, "\x1f")
        parts = tf.strings.split(text, "\x1f")
        parts = tf.ragged.boolean_mask(parts, parts != "")
        if self.max_tokens:
            parts = parts[:, :self.max_tokens]
        return parts

    def index_values(self, features):
        return self.tokens(features[self.input_name]).flat_values

    def __call__(self, features, tables):
        parts = self.tokens(features[self.input_name])
        ids = tf.ragged.map_flat_values(self.index, parts)
        vectors = tf.ragged.map_flat_values(tf.nn.embedding_lookup, tables[self.embedding_name], ids)
        pooled = tf.reduce_sum(vectors, axis=1)
        if self.mean:
            pooled = tf.math.divide_no_nan(pooled, tf.cast(ids.row_lengths(), pooled.dtype)[:, None])
        return pooled
