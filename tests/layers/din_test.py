"""Tests for easyrank.layers.din."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.din import DIN

B, T, E = 4, 5, 3
UNITS = [6, 4]


def _set_weights_by_name(layer, values):
    for suffix, value in values.items():
        matches = [w for w in layer.weights if f"/{suffix}:" in "/" + w.name]
        assert len(matches) == 1, (suffix, [w.name for w in layer.weights])
        matches[0].assign(value)


def _np_din(q, k, lengths, weights, activation, normalize):
    """NumPy re-statement of docs/blocks.md#din-target-attention."""
    Q = np.repeat(q[:, None, :], k.shape[1], axis=1)
    h = np.concatenate([Q, k, Q - k, Q * k], axis=-1)
    for i in range(len(UNITS)):
        h = h @ weights[f"attention_mlp/dense_{i}/kernel"] + weights[
            f"attention_mlp/dense_{i}/bias"]
        if activation == "sigmoid":
            h = 1 / (1 + np.exp(-h))
        else:  # prelu
            h = np.where(h > 0, h, weights[f"attention_mlp/activation_{i}/alpha"] * h)
    s = (h @ weights["score/kernel"] + weights["score/bias"])[..., 0]  # [B, T]
    mask = np.arange(k.shape[1])[None, :] < lengths[:, None]
    if normalize:
        s = np.where(mask, s, -(2.0**32) + 1)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        s = np.where(mask.any(-1, keepdims=True), s, 0.0)  # length-0 row: zero vector
    else:
        s = np.where(mask, s, 0.0)
    return np.einsum("bt,bte->be", s, k)


class DINTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.rng = np.random.default_rng(7)
        self.q = self._random(B, E)
        self.k = self._random(B, T, E)
        self.lengths = np.array([2, 0, 5, 8], np.int32)  # empty row, full row, > T

    def _random(self, *shape):
        return self.rng.normal(size=shape).astype(np.float32)

    def _layer_with_weights(self, activation="sigmoid", normalize=False):
        layer = DIN(UNITS, attention_activation=activation, normalize=normalize, name="din")
        layer.build(((None, E), (None, T, E), (None,)))
        weights, width = {}, 4 * E
        for i, u in enumerate(UNITS):
            weights[f"attention_mlp/dense_{i}/kernel"] = self._random(width, u)
            weights[f"attention_mlp/dense_{i}/bias"] = self._random(u)
            if activation == "prelu":
                weights[f"attention_mlp/activation_{i}/alpha"] = self._random(1, u)
            width = u
        weights["score/kernel"] = self._random(width, 1)
        weights["score/bias"] = self._random(1)
        _set_weights_by_name(layer, weights)
        return layer, weights

    @parameterized.named_parameters(
        ("sigmoid", "sigmoid", False),
        ("sigmoid_normalized", "sigmoid", True),
        ("prelu", "prelu", False),
        ("prelu_normalized", "prelu", True),
    )
    def test_golden(self, activation, normalize):
        layer, weights = self._layer_with_weights(activation, normalize)
        out = layer((self.q, self.k, self.lengths))
        expected = _np_din(self.q, self.k, self.lengths, weights, activation, normalize)
        self.assertAllClose(out, expected, rtol=1e-4, atol=1e-5)

    @parameterized.named_parameters(("raw", False), ("normalized", True))
    def test_length_zero_rows_give_zeros(self, normalize):
        layer = DIN(UNITS, normalize=normalize)
        out = layer((self.q, self.k, np.zeros([B], np.int32))).numpy()
        self.assertAllEqual(out, np.zeros((B, E)))
        out = layer((self.q[:1], self.k[:1], np.array([0]))).numpy()  # batch of one
        self.assertAllEqual(out, np.zeros((1, E)))

    @parameterized.named_parameters(("raw", False), ("normalized", True))
    def test_padding_content_is_ignored_and_long_lengths_clip(self, normalize):
        layer = DIN(UNITS, normalize=normalize)
        garbage = self.k.copy()
        garbage[0, 2:] = 1e3  # row 0 has length 2
        out = layer((self.q, self.k, self.lengths))
        self.assertAllClose(layer((self.q, garbage, self.lengths)), out)
        self.assertAllClose(out[3], layer((self.q, self.k, np.full([B], T)))[3])
        self.assertTrue(np.all(np.isfinite(out.numpy())))

    def test_normalized_weights_sum_to_one(self):
        layer = DIN(UNITS, normalize=True)
        ones = np.ones((B, T, E), np.float32)  # out = Σ_t s_t, per dimension
        out = layer((self.q, ones, self.lengths)).numpy()
        self.assertAllClose(out[:, 0], [1.0, 0.0, 1.0, 1.0])

    def test_dict_inputs_and_column_lengths(self):
        layer = DIN(UNITS)
        expected = layer((self.q, self.k, self.lengths))
        got = layer({"query": self.q, "keys": self.k, "lengths": self.lengths[:, None]})
        self.assertAllClose(got, expected)

    def test_weights(self):
        layer = DIN([8, 4], attention_activation="dice", name="din")
        layer.build(((None, E), (None, T, E), (None,)))
        shapes = {w.name.removeprefix("din/")[:-2]: tuple(w.shape)
                  for w in layer.trainable_weights}
        self.assertEqual(shapes, {
            "attention_mlp/dense_0/kernel": (4 * E, 8), "attention_mlp/dense_0/bias": (8,),
            "attention_mlp/dense_1/kernel": (8, 4), "attention_mlp/dense_1/bias": (4,),
            "attention_mlp/activation_0/alpha": (1, 8),  # shared over T
            "attention_mlp/activation_1/alpha": (1, 4),
            "score/kernel": (4, 1), "score/bias": (1,),
        })

    @parameterized.named_parameters(
        ("empty_units", {"attention_units": []},
         r"`attention_units` must be a non-empty list of positive integers. "
         r"Received: attention_units=\[\]"),
        ("bad_activation", {"attention_activation": "nope"},
         "Received: attention_activation='nope'"),
    )
    def test_bad_args(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            DIN(**kwargs)

    def test_width_mismatch(self):
        with self.assertRaisesRegex(ValueError, "must have the same width"):
            DIN(UNITS)((self.q, self._random(B, T, E + 1), self.lengths))

    def test_bad_input_structure(self):
        with self.assertRaisesRegex(ValueError, r"expects inputs `\(query, keys, lengths\)`"):
            DIN(UNITS)((self.q, self.k))

    def test_config_round_trip(self):
        layer = DIN([16], attention_activation="dice", normalize=True,
                    kernel_regularizer="l2", name="din")
        config = layer.get_config()
        self.assertEqual(DIN.from_config(config).get_config(), config)

    def test_training_vs_inference_with_dice(self):
        layer = DIN(UNITS, attention_activation="dice")
        inference = layer((self.q, self.k, self.lengths), training=False)
        training = layer((self.q, self.k, self.lengths), training=True)
        self.assertNotAllClose(training, inference)

    def test_functional_model_and_saved_model(self):
        q = tf_keras.Input((E,))
        k = tf_keras.Input((None, E))
        n = tf_keras.Input((), dtype=tf.int32)
        out = DIN(UNITS, attention_activation="dice", normalize=True)((q, k, n))
        model = tf_keras.Model([q, k, n], out)
        inputs = [self.q, self.k, self.lengths]
        expected = model(inputs, training=False)
        path = self.get_temp_dir() + "/din_model"
        model.save(path, save_format="tf")
        loaded = tf_keras.models.load_model(path)
        self.assertAllClose(loaded(inputs, training=False), expected)


if __name__ == "__main__":
    tf.test.main()
