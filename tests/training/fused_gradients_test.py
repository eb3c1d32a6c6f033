"""Fused row-gradient all-reduce: every table gets the rows its own all-reduce gives, in the
same order, and the NumPy sum over replicas."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from tf_keras.src.optimizers import utils as optimizer_utils

from easyrank.training import fused_gradients

try:  # at collection, before the runtime starts: two CPU devices for two replicas
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:
    pass  # the runtime already runs (another module started it): the test skips

# Per replica, per table (rows, width): (indices, values); replica 1 sends other lengths.
TABLES = {"a": (5, 4), "b": (3, 4), "c": (6, 2), "d": (2, 4)}
RNG = np.random.default_rng(0)
SENT = [{"a": [1, 4, 1], "b": [2], "c": [0, 5], "d": []},
        {"a": [0], "b": [0, 2, 1, 2], "c": [3], "d": [1]}]
VALUES = [{name: RNG.normal(size=(len(idx), TABLES[name][1])).astype(np.float32)
           for name, idx in sent.items()} for sent in SENT]


def test_fused_sum_equals_each_tables_own_all_reduce():
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("TensorFlow was initialised with one CPU device")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        tables = {name: tf.Variable(tf.zeros(shape), name=name) for name, shape in TABLES.items()}
        dense = tf.Variable(tf.zeros([2]), name="dense")

    def step():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        pairs = []
        for name, variable in tables.items():
            idx = tf.switch_case(replica, [lambda r=r: tf.constant(SENT[r][name], tf.int32)
                                           for r in range(2)])
            values = tf.switch_case(replica, [
                lambda r=r: tf.reshape(tf.constant(VALUES[r][name]), [-1, TABLES[name][1]])
                for r in range(2)])
            pairs.append((tf.IndexedSlices(values, idx, tf.constant(TABLES[name])), variable))
        pairs.append((tf.cast(replica, tf.float32) + tf.ones([2]), dense))
        fused = fused_gradients.all_reduce_sum(pairs, lambda v: v is not dense)
        own = optimizer_utils.all_reduce_sum_gradients(pairs)
        return ([(g.indices, g.values) if isinstance(g, tf.IndexedSlices) else g for g, _ in fused],
                [(g.indices, g.values) if isinstance(g, tf.IndexedSlices) else g for g, _ in own])

    fused, own = strategy.run(tf.function(step))
    fused, own = strategy.experimental_local_results(fused)[0], strategy.experimental_local_results(own)[0]
    for k, name in enumerate(TABLES):
        (fi, fv), (oi, ov) = fused[k], own[k]
        assert fi.dtype == tf.int32
        np.testing.assert_array_equal(fi.numpy(), oi.numpy())
        np.testing.assert_array_equal(fv.numpy(), ov.numpy())
        rows, width = TABLES[name]
        got, want = np.zeros((rows, width)), np.zeros((rows, width))
        np.add.at(got, fi.numpy(), fv.numpy())
        for r in range(2):
            np.add.at(want, np.array(SENT[r][name], int), VALUES[r][name])
        np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(fused[-1].numpy(), [3.0, 3.0])
