"""String ids all-gathered as padded byte matrices (issue 27): every replica gets the ids of
every replica, in replica order, whatever their lengths and counts."""

import easyrank  # noqa: F401

# isort: split
import pytest
import tensorflow as tf

from easyrank.features import id_gather

try:  # at collection, before the runtime starts: two CPU devices for two replicas
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:
    pass  # the runtime already runs (another module started it): the test skips


def test_byte_matrix_round_trip_keeps_any_bytes():
    keys = tf.constant([b"", b"a", b"movie_42", b"\x00z\xff", "é".encode()])
    lengths = tf.strings.length(keys)
    matrix = id_gather.to_byte_matrix(keys, tf.reduce_max(lengths))
    assert matrix.shape == (5, 8) and matrix.dtype == tf.int32
    assert id_gather.from_byte_matrix(matrix, lengths).numpy().tolist() == keys.numpy().tolist()


def test_all_gather_over_replicas_with_different_counts_and_lengths():
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("TensorFlow was initialised with one CPU device")
    # The replica context's all_gather is the same under MultiWorkerMirrored (over workers).
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    parts = [[b"a", b"bb"], [b"a_long_id", b"", b"c"]]
    replicas = strategy.num_replicas_in_sync

    def values(context):
        return tf.constant(parts[context.replica_id_in_sync_group])

    ids = strategy.experimental_distribute_values_from_function(values)

    @tf.function
    def gather(ids):
        return strategy.run(lambda x: id_gather.all_gather_strings(
            tf.distribute.get_replica_context(), x), args=(ids,))

    results = [r.numpy().tolist() for r in strategy.experimental_local_results(gather(ids))]
    expected = [k for part in parts[:replicas] for k in part]
    assert replicas == 2 and results == [expected] * replicas
