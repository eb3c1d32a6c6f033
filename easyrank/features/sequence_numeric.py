"""sequence_numeric_feature (issue 28): numeric side information per step of a sequence
(price, dwell time, time gap), aligned with an id sequence and joining its keys."""

import tensorflow as tf

from easyrank.errors import ConfigError
from easyrank.features.columns import _FLOAT_PATTERN, Column, RawColumn
from easyrank.features.sequence import SequenceColumn, SequenceValue, split_values, truncate_and_pad


class SequenceNumericColumn(Column):
    """Numbers per step -> SequenceValue(values [B, max_len, W], lengths [B]); W is 1, or
    embedding_dim (a linear map, or the bucket embedding with boundaries). Padding is zero.

    `sequence_input`, `sequence_separator` and `max_len` are those of the id sequence (set by
    `link`); every row must hold as many values as the sequence does.
    """

    is_sequence = True

    def __init__(self, name, input_name, sequence, separator, normalizer, boundaries, embedding_name,
                 embedding_dim):
        self.output = RawColumn(name, name, normalizer, boundaries, embedding_name, embedding_dim)
        super().__init__(name, input_name, self.output.width)
        self.sequence, self.separator = sequence, separator
        self.embedding_name = embedding_name
        self.sequence_input = self.sequence_separator = self.max_len = None

    def link(self, columns):
        """Takes the input, separator and max_len of the SequenceColumn it describes."""
        sequence = columns.get(self.sequence)
        if not isinstance(sequence, SequenceColumn):
            raise ConfigError(f"{self.sequence!r} is not a sequence_feature.", path=self.path + ".sequence")
        self.sequence_input = sequence.input_name
        self.sequence_separator = sequence.separator
        self.max_len = sequence.max_len

    @property
    def input_names(self):
        """The fields it reads: its own and its sequence's (after `link`)."""
        return [self.input_name] + ([self.sequence_input] if self.sequence_input else [])

    def table_spec(self):
        return self.output.table_spec()

    def numbers(self, features):
        """Ragged [B, (k)] float32 of each row's values, checked against its sequence."""
        values = split_values(features[self.input_name], self.separator)
        steps = split_values(features[self.sequence_input], self.sequence_separator)
        same = tf.reduce_all(tf.equal(values.row_lengths(), steps.row_lengths()))
        numeric = tf.reduce_all(tf.strings.regex_full_match(values.flat_values, _FLOAT_PATTERN))
        checks = [
            tf.debugging.Assert(same, [
                f"sequence_numeric_feature {self.name!r}: input field {self.input_name!r} holds another "
                f"number of values than its sequence {self.sequence!r} (input field {self.sequence_input!r}) "
                "in a row; values per row, then steps per row:", values.row_lengths(), steps.row_lengths()],
                summarize=8),
            tf.debugging.Assert(numeric, [
                f"sequence_numeric_feature {self.name!r}: input field {self.input_name!r} holds a value "
                "that is not a number:", values.flat_values], summarize=8)]
        with tf.control_dependencies(checks):
            return values.with_flat_values(tf.strings.to_number(values.flat_values, tf.float32))

    def __call__(self, features, tables):
        padded, lengths = truncate_and_pad(self.numbers(features), self.max_len, pad=0.0)
        flat = self.output({self.name: tf.reshape(padded, [-1])}, tables)  # [B * T, W]
        steps = tf.reshape(flat, [-1, self.max_len, self.width])
        mask = tf.sequence_mask(lengths, self.max_len, dtype=steps.dtype)
        return SequenceValue(steps * mask[:, :, None], lengths)
