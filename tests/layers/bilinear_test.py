"""Tests for easyrank.layers.bilinear (docs/blocks.md#bilinear-fibinet)."""

import itertools
import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.bilinear import Bilinear


def _numpy_bilinear(e, kernel, bilinear_type):
    """p_ij = (v_i W) * v_j for i < j, with a Python loop over the pairs."""
    pairs = []
    for p, (i, j) in enumerate(itertools.combinations(range(e.shape[1]), 2)):
        if bilinear_type == "field_all":
            w = kernel
        elif bilinear_type == "field_each":
            w = kernel[i]
        else:
            w = kernel[p]
        pairs.append((e[:, i, :] @ w) * e[:, j, :])
    return np.stack(pairs, axis=1)  # [B, P, D]


_TYPES = (
    dict(testcase_name="field_all", bilinear_type="field_all"),
    dict(testcase_name="field_each", bilinear_type="field_each"),
    dict(testcase_name="field_interaction", bilinear_type="field_interaction"),
)


class BilinearTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(*_TYPES)
    def test_golden_output(self, bilinear_type):
        rng = np.random.default_rng(0)
        e = rng.normal(size=(3, 4, 5)).astype(np.float32)
        layer = Bilinear(bilinear_type=bilinear_type, flatten=False)
        layer(e)
        kernel = rng.normal(size=layer.kernel.shape).astype(np.float32)
        layer.set_weights([kernel])
        expected = _numpy_bilinear(e.astype(np.float64), kernel, bilinear_type)
        self.assertAllClose(expected, layer(e), rtol=1e-5, atol=1e-5)
        # Flattened: pair-major, the D values of pair 0 first.
        flat = Bilinear(bilinear_type=bilinear_type)
        flat(e)
        flat.set_weights([kernel])
        self.assertAllClose(expected.reshape((3, 6 * 5)), flat(e), rtol=1e-5, atol=1e-5)

    def test_identity_kernel_is_elementwise_product(self):
        e = np.arange(12, dtype=np.float32).reshape((1, 3, 4))
        layer = Bilinear(bilinear_type="field_all", kernel_initializer="identity",
                         flatten=False)
        expected = np.stack([e[0, 0] * e[0, 1], e[0, 0] * e[0, 2], e[0, 1] * e[0, 2]])
        self.assertAllClose(expected[None], layer(e))

    @parameterized.named_parameters(
        dict(testcase_name="field_all", bilinear_type="field_all", shape=(8, 8)),
        dict(testcase_name="field_each", bilinear_type="field_each", shape=(4, 8, 8)),
        dict(testcase_name="field_interaction", bilinear_type="field_interaction",
             shape=(10, 8, 8)),
    )
    def test_weights_and_output_shape(self, bilinear_type, shape):
        layer = Bilinear(bilinear_type=bilinear_type)
        y = layer(tf.zeros((2, 5, 8)))
        self.assertEqual([shape], [tuple(w.shape) for w in layer.weights])
        self.assertEqual((2, 10 * 8), tuple(y.shape))
        self.assertEqual((None, 80), tuple(layer.compute_output_shape((None, 5, 8))))
        unflat = Bilinear(bilinear_type=bilinear_type, flatten=False)
        self.assertEqual((2, 10, 8), tuple(unflat(tf.zeros((2, 5, 8))).shape))

    def test_bad_bilinear_type(self):
        with self.assertRaisesRegex(
            ValueError,
            r"`bilinear_type` must be one of \['field_all', 'field_each', "
            r"'field_interaction'\]. Received: bilinear_type='each'",
        ):
            Bilinear(bilinear_type="each")

    @parameterized.named_parameters(*_TYPES)
    def test_one_field_raises(self, bilinear_type):
        with self.assertRaisesRegex(ValueError, r"needs at least 2 fields .*F=1"):
            Bilinear(bilinear_type=bilinear_type)(tf.zeros((2, 1, 4)))

    def test_bad_input_rank(self):
        with self.assertRaisesRegex(ValueError, r"expects a 3D input \[batch_size, F, D\]"):
            Bilinear()(tf.zeros((2, 8)))

    @parameterized.named_parameters(*_TYPES)
    def test_two_fields_give_one_pair(self, bilinear_type):
        rng = np.random.default_rng(1)
        e = rng.normal(size=(1, 2, 3)).astype(np.float32)
        layer = Bilinear(bilinear_type=bilinear_type)
        y = layer(e)
        self.assertEqual((1, 3), tuple(y.shape))
        w = layer.kernel.numpy().reshape((3, 3))
        self.assertAllClose((e[:, 0] @ w) * e[:, 1], y, rtol=1e-5, atol=1e-6)

    @parameterized.named_parameters(*_TYPES)
    def test_config_round_trip(self, bilinear_type):
        layer = Bilinear(bilinear_type=bilinear_type, flatten=False, kernel_regularizer="l2")
        x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype(np.float32)
        y = layer(x)
        config = layer.get_config()
        restored = Bilinear.from_config(config)
        self.assertEqual(config, restored.get_config())
        restored(x)
        restored.set_weights(layer.get_weights())
        self.assertAllClose(y, restored(x))
        serialized = tf_keras.layers.serialize(layer)
        self.assertEqual("easyrank>Bilinear", serialized["registered_name"])
        self.assertIsInstance(tf_keras.layers.deserialize(serialized), Bilinear)

    @parameterized.named_parameters(*_TYPES)
    def test_functional_model_and_saved_model(self, bilinear_type):
        inputs = tf_keras.Input(shape=(4, 3))
        x = Bilinear(bilinear_type=bilinear_type)(inputs)
        model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(x))
        rng = np.random.default_rng(3)
        x = rng.normal(size=(16, 4, 3)).astype(np.float32)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, rng.normal(size=(16, 1)), epochs=1, batch_size=8, verbose=0)
        expected = model(x)
        path = os.path.join(self.get_temp_dir(), "bilinear_model")
        model.save(path, save_format="tf")
        self.assertAllClose(expected, tf.saved_model.load(path)(x), rtol=1e-5, atol=1e-5)
        reloaded = tf_keras.models.load_model(path)
        self.assertAllClose(expected, reloaded(x), rtol=1e-5, atol=1e-5)


if __name__ == "__main__":
    tf.test.main()
