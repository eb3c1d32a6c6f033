"""All-gather of string ids over every replica of a collective strategy (issue 27).

TensorFlow's collectives carry numbers, not strings. A replica's ids go as a
padded byte matrix [n, width] (int32 per byte), width being the longest id of
any replica (their lengths are gathered first); the gathered matrix is turned
back into strings with the gathered lengths. Replicas may hold different
numbers of ids (the collective pads the first dimension). The result, the ids
of every replica in replica order (worker 0's first), is the same on every
replica, so every worker of MultiWorkerMirroredStrategy can apply the same
dynamic-table update to its copy of the mapping.
"""

import tensorflow as tf

_BYTES = [bytes([i]) for i in range(256)]


def to_byte_matrix(keys, width):
    """[n] tf.string -> [n, width] int32 bytes, zero-padded (ids longer than width cut)."""
    return tf.cast(tf.io.decode_raw(keys, tf.uint8, fixed_length=width), tf.int32)


def from_byte_matrix(matrix, lengths):
    """The inverse of to_byte_matrix: [n, width] bytes and [n] lengths -> [n] tf.string."""
    chars = tf.gather(tf.constant(_BYTES), matrix)
    joined = tf.strings.reduce_join(chars, axis=1)
    return tf.strings.substr(joined, tf.zeros_like(lengths), lengths)


def all_gather_strings(context, keys):
    """In replica context: the [N] string ids of every replica (this one's `keys` included),
    in replica order, identical on every replica."""
    keys = tf.reshape(keys, [-1])
    lengths = tf.strings.length(keys)
    all_lengths = context.all_gather(lengths, axis=0)
    width = tf.maximum(tf.reduce_max(tf.concat([all_lengths, [1]], 0)), 1)
    matrix = context.all_gather(to_byte_matrix(keys, width), axis=0)
    return from_byte_matrix(matrix, all_lengths)
