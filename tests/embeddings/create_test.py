"""Large tables are filled in place, chunk by chunk, with the initializer's distribution."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import tensorflow as tf
import tf_keras

from easyrank.embeddings import create


def test_large_table_is_filled_uniformly_in_chunks_and_by_seed(monkeypatch):
    monkeypatch.setattr(create, "LARGE_TABLE_ELEMENTS", 1000)
    monkeypatch.setattr(create, "_CHUNK_ELEMENTS", 64)  # 16 rows of 4 per chunk
    values = []
    for _ in range(2):
        tf_keras.utils.set_random_seed(5)
        table = create.create_table(tf_keras.layers.Layer(), "t", 1000, 4,
                                    tf_keras.initializers.RandomUniform(-0.05, 0.05))
        values.append(table.numpy())
    a, b = values
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -0.05 and a.max() < 0.05 and abs(a.mean()) < 0.005
    assert np.all(np.abs(a).sum(axis=1) > 0)  # every chunk was written
    assert len(np.unique(a[:16])) == 64 and not np.allclose(a[:16], a[16:32])  # chunks differ


def test_large_zero_table_is_filled_in_chunks(monkeypatch):
    monkeypatch.setattr(create, "LARGE_TABLE_ELEMENTS", 1000)
    monkeypatch.setattr(create, "_CHUNK_ELEMENTS", 64)
    writes = []
    fill_rows = create.fill_rows
    monkeypatch.setattr(create, "fill_rows", lambda v, make: writes.append(v) or fill_rows(v, make))
    table = create.create_table(tf_keras.layers.Layer(), "t", 1000, 4,
                                tf_keras.initializers.Zeros())
    assert writes == [table]  # allocated unfilled, then written chunk by chunk
    np.testing.assert_array_equal(table.numpy(), np.zeros((1000, 4), np.float32))


def test_small_table_uses_the_keras_initializer():
    table = create.create_table(tf_keras.layers.Layer(), "t", 10, 2,
                                tf_keras.initializers.Constant(0.5))
    np.testing.assert_array_equal(table.numpy(), np.full((10, 2), 0.5, np.float32))
    assert isinstance(table, tf.Variable)
