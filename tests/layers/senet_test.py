"""Tests for easyrank.layers.senet (docs/blocks.md#senet)."""

import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.senet import SENet


def _numpy_senet(e, w1, w2, squeeze, weight_axis):
    """z = squeeze(E); A = sigmoid(W2 relu(W1 z)); out = E re-weighted, one row at a time."""
    out = np.empty_like(e)
    reduce = np.mean if squeeze == "mean" else np.max
    for n in range(e.shape[0]):
        if weight_axis == "field":
            z = np.array([reduce(e[n, f, :]) for f in range(e.shape[1])])
        else:
            z = np.array([reduce(e[n, :, d]) for d in range(e.shape[2])])
        a = 1.0 / (1.0 + np.exp(-(np.maximum(z @ w1, 0.0) @ w2)))
        for f in range(e.shape[1]):
            for d in range(e.shape[2]):
                out[n, f, d] = e[n, f, d] * (a[f] if weight_axis == "field" else a[d])
    return out


_VARIANTS = (
    dict(testcase_name="field_mean", squeeze="mean", weight_axis="field"),
    dict(testcase_name="field_max", squeeze="max", weight_axis="field"),
    dict(testcase_name="embedding_mean", squeeze="mean", weight_axis="embedding"),
    dict(testcase_name="embedding_max", squeeze="max", weight_axis="embedding"),
)


class SENetTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(*_VARIANTS)
    def test_golden_output(self, squeeze, weight_axis):
        rng = np.random.default_rng(0)
        e = rng.normal(size=(3, 7, 4)).astype(np.float32)
        layer = SENet(reduction_ratio=2, squeeze=squeeze, weight_axis=weight_axis)
        layer(e)
        w1, w2 = [rng.normal(size=w.shape).astype(np.float32) for w in layer.weights]
        layer.set_weights([w1, w2])
        expected = _numpy_senet(e.astype(np.float64), w1, w2, squeeze, weight_axis)
        self.assertAllClose(expected, layer(e), rtol=1e-5, atol=1e-6)

    def test_constant_weights(self):
        # W = 0: A = sigmoid(0) = 0.5 for every field.
        e = np.arange(12, dtype=np.float32).reshape((1, 3, 4))
        layer = SENet(kernel_initializer="zeros")
        self.assertAllClose(0.5 * e, layer(e))

    @parameterized.named_parameters(
        dict(testcase_name="field", weight_axis="field", shapes=[(10, 3), (3, 10)]),
        dict(testcase_name="embedding", weight_axis="embedding", shapes=[(8, 2), (2, 8)]),
    )
    def test_weights(self, weight_axis, shapes):
        layer = SENet(reduction_ratio=3, weight_axis=weight_axis)
        layer(tf.zeros((2, 10, 8)))
        self.assertEqual(shapes, [tuple(w.shape) for w in layer.weights])
        self.assertEqual(["kernel_1", "kernel_2"],
                         [w.name.split("/")[-1].split(":")[0] for w in layer.weights])

    @parameterized.named_parameters(
        dict(testcase_name="reduction_ratio", kwargs={"reduction_ratio": 0},
             match=r"`reduction_ratio` must be a positive integer. Received: "
                   r"reduction_ratio=0"),
        dict(testcase_name="squeeze", kwargs={"squeeze": "sum"},
             match=r"`squeeze` must be one of \['max', 'mean'\]. Received: squeeze='sum'"),
        dict(testcase_name="weight_axis", kwargs={"weight_axis": "batch"},
             match=r"`weight_axis` must be one of \['field', 'embedding'\]. "
                   r"Received: weight_axis='batch'"),
    )
    def test_bad_arguments(self, kwargs, match):
        with self.assertRaisesRegex(ValueError, match):
            SENet(**kwargs)

    def test_bad_input_rank(self):
        with self.assertRaisesRegex(ValueError, r"expects a 3D input \[batch_size, F, D\]"):
            SENet()(tf.zeros((2, 12)))

    @parameterized.named_parameters(*_VARIANTS)
    def test_config_round_trip(self, squeeze, weight_axis):
        layer = SENet(reduction_ratio=2, squeeze=squeeze, weight_axis=weight_axis,
                      kernel_regularizer="l2")
        x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
        y = layer(x)
        config = layer.get_config()
        restored = SENet.from_config(config)
        self.assertEqual(config, restored.get_config())
        restored(x)
        restored.set_weights(layer.get_weights())
        self.assertAllClose(y, restored(x))
        serialized = tf_keras.layers.serialize(layer)
        self.assertEqual("easyrank>SENet", serialized["registered_name"])
        self.assertIsInstance(tf_keras.layers.deserialize(serialized), SENet)

    def test_functional_model_and_saved_model(self):
        inputs = tf_keras.Input(shape=(5, 4))
        x = tf_keras.layers.Flatten()(SENet(reduction_ratio=2)(inputs))
        model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(x))
        rng = np.random.default_rng(2)
        x = rng.normal(size=(16, 5, 4)).astype(np.float32)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, rng.normal(size=(16, 1)), epochs=1, batch_size=8, verbose=0)
        expected = model(x)
        path = os.path.join(self.get_temp_dir(), "senet_model")
        model.save(path, save_format="tf")
        self.assertAllClose(expected, tf.saved_model.load(path)(x), rtol=1e-5, atol=1e-5)
        reloaded = tf_keras.models.load_model(path)
        self.assertAllClose(expected, reloaded(x), rtol=1e-5, atol=1e-5)

    def test_one_field_and_batch_of_one(self):
        layer = SENet(reduction_ratio=3)
        e = tf.constant([[[1.0, -2.0, 3.0]]])  # [1, 1, 3]
        y = layer(e)
        self.assertEqual((1, 1), tuple(layer.kernel_1.shape))  # max(1, 1 // 3)
        self.assertEqual((1, 1, 3), tuple(y.shape))
        # One field: the weight is a single sigmoid in (0, 1).
        ratio = (y / e).numpy()
        self.assertAllClose(np.full((1, 1, 3), ratio[0, 0, 0]), ratio)
        self.assertBetween(float(ratio[0, 0, 0]), 0.0, 1.0)

    def test_unknown_batch_size(self):
        fn = tf.function(SENet(), input_signature=[tf.TensorSpec([None, 4, 2])])
        self.assertEqual([None, 4, 2], fn.get_concrete_function().output_shapes.as_list())


if __name__ == "__main__":
    tf.test.main()
