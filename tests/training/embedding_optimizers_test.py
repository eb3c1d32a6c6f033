"""Sparse embedding optimizers against NumPy references: touched rows follow the rule,
untouched rows and their slots stay exactly as they were."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from easyrank.training import embedding_optimizers as eo

ROWS, DIM = 10, 4
# Two steps; row 1 appears twice in the first batch (its gradient rows are summed).
BATCHES = [(np.array([1, 3, 1]), np.array([[0.1, -0.2, 0.3, 0.4], [0.5, 0.1, -0.1, 0.2],
                                           [0.2, 0.2, -0.4, 0.1]])),
           (np.array([3, 7]), np.array([[-0.3, 0.2, 0.1, 0.0], [0.4, -0.5, 0.6, -0.7]]))]


def summed(indices, values):
    unique = np.unique(indices)
    return unique, np.stack([values[indices == i].sum(axis=0) for i in unique])


def ref_lazy_adam(w, state, idx, g, step, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    m, v = state.setdefault("m", np.zeros_like(w)), state.setdefault("v", np.zeros_like(w))
    m[idx] = b1 * m[idx] + (1 - b1) * g
    v[idx] = b2 * v[idx] + (1 - b2) * g * g
    alpha = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    w[idx] -= alpha * m[idx] / (np.sqrt(v[idx]) + eps)


def ref_adagrad(w, state, idx, g, step, lr=0.01, init=0.1, eps=1e-7):
    acc = state.setdefault("accumulator", np.full_like(w, init))
    acc[idx] += g * g
    w[idx] -= lr * g / (np.sqrt(acc[idx]) + eps)


def ref_rowwise_adagrad(w, state, idx, g, step, lr=0.01, init=0.1, eps=1e-7):
    acc = state.setdefault("accumulator", np.full(w.shape[0], init))
    acc[idx] += (g * g).mean(axis=1)
    w[idx] -= lr * g / (np.sqrt(acc[idx])[:, None] + eps)


def ref_ftrl(w, state, idx, g, step, lr=0.01, power=-0.5, init=0.1, l1=0.01, l2=0.02):
    acc = state.setdefault("accumulator", np.full_like(w, init))
    lin = state.setdefault("linear", np.zeros_like(w))
    new_acc = acc[idx] + g * g
    lin[idx] += g - (new_acc ** -power - acc[idx] ** -power) / lr * w[idx]
    quadratic = new_acc ** -power / lr + 2 * l2
    w[idx] = np.where(np.abs(lin[idx]) > l1, (np.sign(lin[idx]) * l1 - lin[idx]) / quadratic, 0.0)
    acc[idx] = new_acc


def ref_sgd(w, state, idx, g, step, lr=0.01):
    w[idx] -= lr * g


def ref_momentum(w, state, idx, g, step, lr=0.01, momentum=0.9):
    mom = state.setdefault("momentum", np.zeros_like(w))
    mom[idx] = momentum * mom[idx] - lr * g
    w[idx] += mom[idx]


CASES = {
    "lazy_adam": (lambda: eo.LazyAdam(0.01), ref_lazy_adam),
    "adagrad": (lambda: eo.SparseAdagrad(0.01, 0.1), ref_adagrad),
    "rowwise_adagrad": (lambda: eo.RowwiseAdagrad(0.01, 0.1), ref_rowwise_adagrad),
    "ftrl": (lambda: eo.SparseFtrl(0.01, l1_regularization_strength=0.01,
                                   l2_regularization_strength=0.02), ref_ftrl),
    "sgd": (lambda: eo.SparseSGD(0.01), ref_sgd),
    "momentum": (lambda: eo.SparseSGD(0.01, momentum=0.9), ref_momentum),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_touched_rows_follow_the_reference_and_others_do_not_move(name):
    make, reference = CASES[name]
    start = np.random.default_rng(0).uniform(-0.1, 0.1, (ROWS, DIM))
    table = tf.Variable(start, dtype=tf.float32, name="table")
    optimizer = make()
    optimizer.build([table])
    slots_before = [s.numpy().copy() for s in optimizer.slots(table)]
    expected, state = start.copy(), {}
    for step, (indices, values) in enumerate(BATCHES, start=1):
        grad = tf.IndexedSlices(tf.constant(values, tf.float32), tf.constant(indices, tf.int64),
                                tf.constant([ROWS, DIM], tf.int64))
        optimizer.apply_gradients([(grad, table)])
        reference(expected, state, *summed(indices, values), step)
    np.testing.assert_allclose(table.numpy(), expected, rtol=1e-5, atol=1e-6)
    touched = np.unique(np.concatenate([i for i, _ in BATCHES]))
    untouched = np.setdiff1d(np.arange(ROWS), touched)
    np.testing.assert_array_equal(table.numpy()[untouched], start.astype(np.float32)[untouched])
    assert not np.allclose(table.numpy()[touched], start[touched])
    for slot_name, slot, before in zip(optimizer.slot_names(), optimizer.slots(table), slots_before):
        np.testing.assert_allclose(slot.numpy(), state[slot_name], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(slot.numpy()[untouched], before[untouched])
    assert int(optimizer.iterations.numpy()) == 2


def test_a_dense_gradient_updates_every_row():
    table = tf.Variable(np.ones((3, 2)), dtype=tf.float32)
    optimizer = eo.SparseSGD(0.5)
    optimizer.apply_gradients([(tf.ones((3, 2)), table)])
    np.testing.assert_allclose(table.numpy(), np.full((3, 2), 0.5))


def test_split_optimizer_routes_tables_and_shares_one_step_count():
    table = tf.Variable(np.zeros((5, 2)), dtype=tf.float32, name="embedding/x")
    weight = tf.Variable(np.zeros((5, 2)), dtype=tf.float32, name="dense/kernel")
    optimizer = eo.SplitOptimizer(tf_keras.optimizers.Adam(0.1), eo.LazyAdam(0.1),
                                  [eo.table_name(table)])
    optimizer.build([table, weight])
    grad = tf.IndexedSlices(tf.ones((1, 2)), tf.constant([2], tf.int64), tf.constant([5, 2], tf.int64))
    for _ in range(3):
        optimizer.apply_gradients([(grad, table), (grad, weight)])
    assert int(optimizer.iterations.numpy()) == 3
    assert optimizer.embedding.iterations is optimizer.dense.iterations
    # Lazy: the rows not in the batch keep zero moments and values; tf_keras Adam decays
    # its moments everywhere but the other rows' values only move for row 2 as well.
    m_table = optimizer.embedding.slots(table)[0].numpy()
    assert np.count_nonzero(m_table) == 2 and np.all(m_table[2] > 0)
    # Both take the same Adam steps on row 2 (same rule, same step count).
    np.testing.assert_allclose(table.numpy()[2], weight.numpy()[2], rtol=1e-5)
    np.testing.assert_array_equal(np.delete(table.numpy(), 2, axis=0), 0.0)


def test_checkpoint_restores_the_slots_of_both_optimizers(tmp_path):
    def make():
        table = tf.Variable(np.zeros((4, 2)), dtype=tf.float32, name="embedding/t")
        weight = tf.Variable(np.zeros((2,)), dtype=tf.float32, name="w")
        optimizer = eo.SplitOptimizer(tf_keras.optimizers.Adam(0.1), eo.RowwiseAdagrad(0.1),
                                      [eo.table_name(table)])
        optimizer.build([table, weight])
        return table, weight, optimizer
    table, weight, optimizer = make()
    grad = tf.IndexedSlices(tf.ones((1, 2)), tf.constant([1], tf.int64), tf.constant([4, 2], tf.int64))
    optimizer.apply_gradients([(grad, table), (tf.ones((2,)), weight)])
    path = tf.train.Checkpoint(optimizer=optimizer, table=table, weight=weight).save(
        str(tmp_path / "ckpt"))
    table2, weight2, optimizer2 = make()
    tf.train.Checkpoint(optimizer=optimizer2, table=table2, weight=weight2).restore(
        path).assert_existing_objects_matched()
    np.testing.assert_allclose(optimizer2.embedding.slots(table2)[0].numpy(), [0.1, 1.1, 0.1, 0.1])
    assert int(optimizer2.iterations.numpy()) == 1
    np.testing.assert_allclose(optimizer2.dense.variables[1].numpy(), optimizer.dense.variables[1].numpy())


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_step_reads_and_writes_only_rows_of_the_table_and_slots(name):
    """No op reads or assigns a whole table or slot (a weight decay of 0, a dense Adam
    decay, a dense conversion would): only gathers, scatters and sparse-apply ops."""
    table = tf.Variable(np.zeros((ROWS, DIM)), dtype=tf.float32, name="table")
    optimizer = CASES[name][0]()
    optimizer.build([table])
    grad = tf.IndexedSlices(tf.ones((2, DIM)), tf.constant([1, 1], tf.int64),
                            tf.constant([ROWS, DIM], tf.int64))
    graph = tf.function(lambda: optimizer.apply_gradients([(grad, table)])).get_concrete_function().graph
    handles = {id(v.handle) for v in [table] + optimizer.slots(table)}
    inside = [internal for external, internal in graph.captures if id(external) in handles]
    assert len(inside) == len(handles)
    consumers = {op.type for tensor in inside for op in tensor.consumers()}
    calls = {"PartitionedCall", "StatefulPartitionedCall"}
    if consumers & calls:  # the row update is one tf.function shared by the tables (issue 23)
        consumers -= calls
        for concrete in optimizer.__dict__["_shared_rows"].function._list_all_concrete_functions():
            captured = {id(t) for t in concrete.graph.internal_captures}
            arguments = [t for t in concrete.graph.inputs if t.dtype == tf.resource and id(t) not in captured]
            assert len(arguments) == len(handles)  # the table and its slots, as arguments
            consumers |= {op.type for tensor in arguments for op in tensor.consumers()}
    row_ops = {"ResourceGather", "ResourceScatterUpdate", "ResourceScatterSub", "ResourceScatterAdd",
               "ResourceSparseApplyAdagradV2", "ResourceSparseApplyFtrl",
               "ResourceSparseApplyKerasMomentum", "VariableShape"}
    assert consumers <= row_ops, consumers - row_ops


def test_a_savedmodel_of_a_model_compiled_with_the_split_optimizer_loads(tmp_path):
    ids = tf_keras.Input([1], dtype=tf.int64)
    embedding = tf_keras.layers.Embedding(10, 2, name="emb")
    model = tf_keras.Model(ids, tf_keras.layers.Dense(1)(tf_keras.layers.Flatten()(embedding(ids))))
    optimizer = eo.SplitOptimizer(tf_keras.optimizers.Adam(), eo.LazyAdam(),
                                  [eo.table_name(embedding.embeddings)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(tf.constant([[1], [2]], tf.int64), tf.constant([[1.0], [0.0]]), verbose=0)
    tf.saved_model.save(model, str(tmp_path / "model"))
    tf.saved_model.load(str(tmp_path / "model"))  # every saved variable is bound


@pytest.mark.parametrize("dense, sparse, exact", [
    (lambda: tf_keras.optimizers.SGD(0.5), lambda: eo.SparseSGD(0.5), True),
    (lambda: tf_keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.1),
     lambda: eo.SparseAdagrad(0.1, initial_accumulator_value=0.1), False),
])
def test_where_the_dense_rule_moves_no_untouched_row_the_row_wise_form_equals_it(dense, sparse,
                                                                                exact):
    """tf_keras' SGD without momentum and its Adagrad leave a row without gradient unchanged, so
    their row-wise forms give the same table: SGD bit for bit; Adagrad up to where epsilon
    sits (tf_keras: g / sqrt(acc + eps); ResourceSparseApplyAdagradV2: g / (sqrt(acc) + eps))."""
    init = np.random.default_rng(0).normal(size=(ROWS, DIM)).astype(np.float32)
    tables = {}
    for name, make in [("dense", dense), ("sparse", sparse)]:
        table = tf.Variable(init)
        optimizer = make()
        for indices, values in BATCHES:
            optimizer.apply_gradients([(tf.IndexedSlices(tf.constant(values, tf.float32),
                                                         tf.constant(indices)), table)])
        tables[name] = table.numpy()
    untouched = [i for i in range(ROWS) if i not in (1, 3, 7)]
    np.testing.assert_array_equal(tables["dense"][untouched], init[untouched])
    assert np.abs(tables["dense"] - init).max() > 0.05
    if exact:
        np.testing.assert_array_equal(tables["sparse"], tables["dense"])
    else:
        np.testing.assert_allclose(tables["sparse"], tables["dense"], rtol=1e-5, atol=1e-6)


def test_dense_ftrl_zeroes_rows_at_its_first_step_so_the_row_wise_form_starts_at_zero():
    """tf_keras' Ftrl recomputes every row from its `linear` slot at every step: at step 1 a
    row without gradient becomes 0 whatever its initial value. SparseFtrl leaves such a row as it
    is, which is why FTRL tables start at zero (models/compiler.py default_table_init): from a
    zero table, the row-wise form gives dense FTRL's table, and from a random one too on every
    row the first step does not touch (rows 1 and 3 keep a small share of their initial value
    under dense FTRL)."""
    init = np.random.default_rng(0).normal(size=(ROWS, DIM)).astype(np.float32)
    tables = {}
    for name, make, start in [
            ("dense_random", lambda: tf_keras.optimizers.Ftrl(0.1), init),
            ("dense_zeros", lambda: tf_keras.optimizers.Ftrl(0.1), np.zeros_like(init)),
            ("sparse_zeros", lambda: eo.SparseFtrl(0.1), np.zeros_like(init))]:
        table = tf.Variable(start)
        optimizer = make()
        for indices, values in BATCHES:
            optimizer.apply_gradients([(tf.IndexedSlices(tf.constant(values, tf.float32),
                                                         tf.constant(indices), [ROWS, DIM]), table)])
        tables[name] = table.numpy()
    never = [i for i in range(ROWS) if i not in (1, 3, 7)]
    np.testing.assert_array_equal(tables["dense_random"][never], 0.0)
    assert np.all(np.abs(tables["sparse_zeros"][[1, 3, 7]]).sum(axis=1) > 0.1)  # trained rows
    np.testing.assert_allclose(tables["sparse_zeros"], tables["dense_zeros"], rtol=1e-5, atol=1e-7)
    later = [i for i in range(ROWS) if i not in (1, 3)]
    np.testing.assert_allclose(tables["sparse_zeros"][later], tables["dense_random"][later],
                               rtol=1e-5, atol=1e-7)
