"""Tests for easyrank.layers.cross (docs/blocks.md#dcn-v2-cross)."""

import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.cross import Cross


def _numpy_cross(x0, kernels, biases, diag_scale):
    """x_{l+1} = x0 * (W_l x_l + b_l + diag_scale x_l) + x_l, one row at a time."""
    out = np.zeros_like(x0)
    for n in range(x0.shape[0]):
        x = x0[n]
        for w, b in zip(kernels, biases):
            x = x0[n] * (w @ x + b + diag_scale * x) + x
        out[n] = x
    return out


class CrossTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        dict(testcase_name="full_rank", projection_dim=None, use_bias=True, diag_scale=0.0),
        dict(testcase_name="low_rank", projection_dim=2, use_bias=True, diag_scale=0.0),
        dict(testcase_name="no_bias_diag", projection_dim=3, use_bias=False, diag_scale=0.5),
    )
    def test_golden_output(self, projection_dim, use_bias, diag_scale):
        rng = np.random.default_rng(0)
        x0 = rng.normal(size=(4, 6)).astype(np.float32)
        layer = Cross(
            num_layers=3,
            projection_dim=projection_dim,
            use_bias=use_bias,
            diag_scale=diag_scale,
        )
        layer(x0)
        values = [rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in layer.weights]
        layer.set_weights(values)
        kernels, biases = [], []
        for cross in layer.cross_layers:
            # Dense computes x @ K, so W = K^T; low rank: x @ U @ V, W = (U V)^T.
            kernel = [w.numpy() for w in cross.weights if w.name.endswith("kernel:0")]
            kernels.append(np.linalg.multi_dot(kernel).T if len(kernel) > 1 else kernel[0].T)
            bias = [w.numpy() for w in cross.weights if w.name.endswith("bias:0")]
            biases.append(bias[0] if bias else np.zeros(6, np.float32))
        expected = _numpy_cross(x0.astype(np.float64), kernels, biases, diag_scale)
        self.assertAllClose(expected, layer(x0), rtol=1e-5, atol=1e-5)

    def test_constant_weights(self):
        # tfrs' own golden value, for one layer: kernel of ones, bias of ones.
        layer = Cross(kernel_initializer="ones", bias_initializer="ones")
        x0 = np.asarray([[0.1, 0.2, 0.3]], np.float32)
        self.assertAllClose([[0.26, 0.52, 0.78]], layer(x0))

    @parameterized.named_parameters(
        dict(testcase_name="full_rank", projection_dim=None, use_bias=True,
             shapes=[(8, 8), (8,)], per_layer=8 * 8 + 8),
        dict(testcase_name="low_rank", projection_dim=2, use_bias=True,
             shapes=[(8, 2), (2, 8), (8,)], per_layer=2 * 8 * 2 + 8),
        dict(testcase_name="low_rank_no_bias", projection_dim=2, use_bias=False,
             shapes=[(8, 2), (2, 8)], per_layer=2 * 8 * 2),
    )
    def test_weights(self, projection_dim, use_bias, shapes, per_layer):
        layer = Cross(num_layers=2, projection_dim=projection_dim, use_bias=use_bias)
        layer(tf.zeros((1, 8)))
        self.assertEqual(shapes * 2, [tuple(w.shape) for w in layer.weights])
        self.assertEqual(2 * per_layer, layer.count_params())

    def test_layers_have_distinct_weights(self):
        layer = Cross(num_layers=2)
        layer(tf.zeros((1, 5)))
        first, second = layer.cross_layers
        self.assertNotAllClose(first.weights[0], second.weights[0])

    @parameterized.named_parameters(
        dict(testcase_name="num_layers", kwargs={"num_layers": 0},
             match=r"`num_layers` must be a positive integer. Received: num_layers=0"),
        dict(testcase_name="projection_dim", kwargs={"projection_dim": 0},
             match=r"`projection_dim` must be a positive integer or None. Received: "
                   r"projection_dim=0"),
        dict(testcase_name="diag_scale", kwargs={"diag_scale": -1.0},
             match=r"`diag_scale` must be a non-negative number. Received: diag_scale=-1.0"),
    )
    def test_bad_arguments(self, kwargs, match):
        with self.assertRaisesRegex(ValueError, match):
            Cross(**kwargs)

    def test_bad_input_rank(self):
        with self.assertRaisesRegex(ValueError, "expects a 2D input"):
            Cross()(tf.zeros((2, 3, 4)))

    def test_config_round_trip(self):
        layer = Cross(num_layers=2, projection_dim=3, preactivation="swish",
                      kernel_regularizer="l2")
        x = np.random.default_rng(1).normal(size=(3, 7)).astype(np.float32)
        y = layer(x)
        config = layer.get_config()
        restored = Cross.from_config(config)
        self.assertEqual(config, restored.get_config())
        restored(x)
        restored.set_weights(layer.get_weights())
        self.assertAllClose(y, restored(x))
        serialized = tf_keras.layers.serialize(layer)
        self.assertEqual("easyrank>Cross", serialized["registered_name"])
        self.assertIsInstance(tf_keras.layers.deserialize(serialized), Cross)

    def test_functional_model_and_saved_model(self):
        inputs = tf_keras.Input(shape=(6,))
        outputs = tf_keras.layers.Dense(1)(Cross(num_layers=2, projection_dim=2)(inputs))
        model = tf_keras.Model(inputs, outputs)
        rng = np.random.default_rng(2)
        x = rng.normal(size=(16, 6)).astype(np.float32)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, rng.normal(size=(16, 1)), epochs=1, batch_size=8, verbose=0)
        expected = model(x)
        path = os.path.join(self.get_temp_dir(), "cross_model")
        model.save(path, save_format="tf")
        self.assertAllClose(expected, tf.saved_model.load(path)(x), rtol=1e-5, atol=1e-5)
        reloaded = tf_keras.models.load_model(path)
        self.assertAllClose(expected, reloaded(x), rtol=1e-5, atol=1e-5)

    def test_batch_of_one(self):
        self.assertEqual((1, 4), tuple(Cross(num_layers=2)(tf.ones((1, 4))).shape))


if __name__ == "__main__":
    tf.test.main()
