"""Embedding tables that are created without a second copy of them.

`create_table` makes the table variable of FeatureGroups: a large table
(easyrank.embeddings.LARGE_ELEMENTS, 2^24 elements or more) is allocated unwritten
and filled in place chunk by chunk, so creating a 10^8-row table holds one copy of
it, not the 3-4 of a Keras RandomUniform initializer plus the variable's copy.

(A unique-ids-first look-up, tf.unique + gather of the unique rows, was measured
and did not help: docs/benchmarks.md. Repeated ids are summed once by the
optimizer's IndexedSlices deduplication.)
"""

import tensorflow as tf
import tf_keras

from easyrank.embeddings import CHUNK_ELEMENTS as _CHUNK_ELEMENTS
from easyrank.embeddings import LARGE_ELEMENTS as LARGE_TABLE_ELEMENTS  # filled in chunks from here


class _Unfilled(tf_keras.initializers.Initializer):
    """Allocates without writing (tf.raw_ops.Empty): the variable's copy of it reads only
    untouched pages, so creating the variable costs one table of memory, not two."""

    def __call__(self, shape, dtype=None, **kwargs):
        return unfilled(shape, dtype or tf.float32)


def create_table(layer, name, rows, dim, initializer, trainable=True):
    """An embedding table variable of `layer`.

    A small table, or one with another initializer (truncated normal, pretrained rows), is
    initialised in one pass by `initializer`. A large RandomUniform or Zeros one must not
    exist twice: RandomUniform builds the whole value (and its temporaries) and the variable
    copies it, a peak of 3-4 tables. It is created unfilled and filled chunk by chunk with
    scatter updates (any strategy: mirrored copies get the same rows, each shard of a
    partitioned table its own), so the peak is one table plus a 16 MiB chunk.
    """
    uniform = isinstance(initializer, tf_keras.initializers.RandomUniform)
    zeros = isinstance(initializer, tf_keras.initializers.Zeros)
    if rows * dim < LARGE_TABLE_ELEMENTS or not (uniform or zeros):  # others: one pass
        return layer.add_weight(name=name, shape=(rows, dim), initializer=initializer,
                                trainable=trainable)
    table = layer.add_weight(name=name, shape=(rows, dim), initializer=_Unfilled(),
                             trainable=trainable)
    if zeros:
        fill_rows(table, lambda start, shape: tf.zeros(shape))
        return table
    minval, maxval = initializer.minval, initializer.maxval
    seed = tf.random.uniform([], maxval=2 ** 31 - 1, dtype=tf.int64)  # follows the global seed
    fill_rows(table, lambda start, shape: tf.random.stateless_uniform(
        shape, seed=tf.stack([seed, start]), minval=minval, maxval=maxval))
    return table


def unfilled(shape, dtype=tf.float32):
    """A tensor of `shape` whose memory is allocated but not written (see create_table)."""
    return tf.raw_ops.Empty(shape=shape, dtype=dtype, init=False)


def fill_rows(variable, make_chunk):
    """Writes `variable` (a variable, mirrored or sharded) chunk by chunk in place:
    rows [start, start + n) of the whole table get make_chunk(start, [n] + row shape)."""
    parts = variable.variables if isinstance(variable, tf.__internal__.distribute.ShardedVariable) \
        else [variable]
    offset = 0
    for part in parts:
        rows, row_shape = int(part.shape[0]), list(part.shape[1:])
        chunk = max(1, _CHUNK_ELEMENTS // max(1, int(tf.TensorShape(row_shape).num_elements())))
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            values = tf.cast(make_chunk(offset + start, [stop - start] + row_shape), part.dtype)
            part.scatter_update(tf.IndexedSlices(values, tf.range(start, stop)))
        offset += rows
