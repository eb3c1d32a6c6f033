"""One all-gather for the row gradients of every embedding table of one width (issue 23).

Under MultiWorkerMirroredStrategy each IndexedSlices gradient is summed over
the workers on its own: an all-gather of its length, then a cond whose two
branches all-gather its indices and rows (padded when the lengths differ).
A model with ten tables traces ten of those into its training step and runs
ten rounds of collectives per step. Here the row gradients of the tables of
one width and dtype are first concatenated into one IndexedSlices over the
tables stacked end to end (each table's indices offset by the rows before it),
summed in one all-gather, and split back by index range. Each table receives
the same rows in the same order as from its own all-gather (worker by worker),
so the update is the same.
"""

import tensorflow as tf
from tf_keras.src.optimizers import utils as optimizer_utils


def fuses(strategy):
    """True for a strategy whose IndexedSlices all-reduce is a per-gradient all-gather
    (MultiWorkerMirroredStrategy), with more than one replica."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > 1)


def all_reduce_sum(grads_and_vars, is_table):
    """all_reduce_sum_gradients (tf_keras), with the IndexedSlices gradients of the
    variables `is_table` accepts fused per (width, dtype) into one all-reduce each."""
    grads_and_vars = list(grads_and_vars)
    groups = {}
    for i, (grad, var) in enumerate(grads_and_vars):
        if isinstance(grad, tf.IndexedSlices) and is_table(var) and var.shape.rank == 2 \
                and var.shape.is_fully_defined():
            groups.setdefault((var.shape[1], grad.values.dtype), []).append(i)
    groups = [members for members in groups.values() if len(members) > 1]
    fused_of = {i: g for g, members in enumerate(groups) for i in members}
    pairs = [pair for i, pair in enumerate(grads_and_vars) if i not in fused_of]
    offsets = []
    for members in groups:
        rows = [int(grads_and_vars[i][1].shape[0]) for i in members]
        starts = [sum(rows[:k]) for k in range(len(rows))]
        offsets.append(list(zip(starts, rows)))
        width = grads_and_vars[members[0]][1].shape[1]
        fused = tf.IndexedSlices(
            tf.concat([grads_and_vars[i][0].values for i in members], 0),
            tf.concat([tf.cast(grads_and_vars[i][0].indices, tf.int64) + start
                       for i, start in zip(members, starts)], 0),
            tf.constant([sum(rows), width], tf.int64))
        pairs.append((fused, grads_and_vars[members[0]][1]))
    reduced = optimizer_utils.all_reduce_sum_gradients(pairs)
    plain, summed = iter(reduced[:len(pairs) - len(groups)]), reduced[len(pairs) - len(groups):]
    result = []
    for i, (grad, var) in enumerate(grads_and_vars):
        if i not in fused_of:
            result.append(next(plain))
            continue
        g = fused_of[i]
        start, rows = offsets[g][groups[g].index(i)]
        total = summed[g][0]
        indices = total.indices
        keep = (indices >= start) & (indices < start + rows)
        result.append((tf.IndexedSlices(
            tf.boolean_mask(total.values, keep),
            tf.cast(tf.boolean_mask(indices, keep) - start, grad.indices.dtype),
            grad.dense_shape), var))
    return result
