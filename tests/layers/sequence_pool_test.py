"""Tests for easyrank.layers.sequence_pool."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.sequence_pool import SequencePool


def _np_pool(x, lengths, pooling):
    out = np.zeros((x.shape[0], x.shape[2]), np.float32)
    for b, n in enumerate(lengths):
        n = min(max(n, 0), x.shape[1])
        if n == 0:
            continue
        rows = x[b, :n]
        out[b] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[pooling]
    return out


class SequencePoolTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        # Negative values, so that a max over padding zeros would be wrong.
        self.x = np.random.default_rng(1).normal(size=(4, 5, 3)).astype(np.float32) - 2.0
        self.lengths = np.array([3, 0, 5, 9], np.int32)  # empty row, full row, > T

    @parameterized.named_parameters(("sum", "sum"), ("mean", "mean"), ("max", "max"))
    def test_golden(self, pooling):
        out = SequencePool(pooling)((self.x, self.lengths))
        self.assertAllClose(out, _np_pool(self.x, self.lengths, pooling))
        self.assertAllEqual(out[1], np.zeros(3))
        self.assertTrue(np.all(np.isfinite(out.numpy())))

    @parameterized.named_parameters(("sum", "sum"), ("mean", "mean"), ("max", "max"))
    def test_dict_input_and_column_lengths(self, pooling):
        layer = SequencePool(pooling)
        expected = layer((self.x, self.lengths))
        got = layer({"sequence": self.x, "lengths": self.lengths[:, None]})
        self.assertAllClose(got, expected)

    def test_no_lengths_pools_everything(self):
        self.assertAllClose(SequencePool("sum")(self.x), self.x.sum(1))

    def test_no_weights(self):
        layer = SequencePool("max")
        layer((self.x, self.lengths))
        self.assertEmpty(layer.weights)

    def test_all_masked_batch_of_one(self):
        for pooling in ("sum", "mean", "max"):
            out = SequencePool(pooling)((self.x[:1], np.array([0])))
            self.assertAllEqual(out, np.zeros((1, 3)))

    def test_bad_args(self):
        with self.assertRaisesRegex(
            ValueError, r"`pooling` must be one of .*Received: pooling='min'"
        ):
            SequencePool("min")

    def test_config_round_trip(self):
        layer = SequencePool("max", name="pool")
        config = layer.get_config()
        self.assertEqual(SequencePool.from_config(config).get_config(), config)

    def test_functional_model_and_saved_model(self):
        seq = tf_keras.Input((5, 3))
        lengths = tf_keras.Input((), dtype=tf.int32)
        model = tf_keras.Model([seq, lengths], SequencePool("mean")((seq, lengths)))
        expected = _np_pool(self.x, self.lengths, "mean")
        self.assertAllClose(model([self.x, self.lengths]), expected)
        path = self.get_temp_dir() + "/pool_model"
        model.save(path, save_format="tf")
        loaded = tf_keras.models.load_model(path)
        self.assertAllClose(loaded([self.x, self.lengths]), expected)


if __name__ == "__main__":
    tf.test.main()
