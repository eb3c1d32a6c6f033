"""Tests for easyrank.layers.bst."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.bst import BST

B, T, E, H = 4, 5, 4, 2


def _layer_norm(x, gamma, beta, eps=1e-6):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _np_bst(q, k, lengths, w, pooling, num_layers):
    """NumPy re-statement of the BST docstring (inference, no dropout)."""
    lengths = np.clip(lengths, 0, T)
    x = np.concatenate([q[:, None], k], axis=1)                             # [B, T+1, E]
    t = np.arange(T + 1)[None, :]
    valid = (t == 0) | (t - 1 < lengths[:, None])
    position = np.where(valid & (t > 0), lengths[:, None] + 1 - t, 0)
    x = x + w["position_embedding"][position]
    for i in range(num_layers):
        a = f"attention_{i}/"
        proj = {n: np.einsum("bte,ehd->bthd", x, w[a + n + "/kernel"]) + w[a + n + "/bias"]
                for n in ("query", "key", "value")}
        scores = np.einsum("bqhd,bkhd->bhqk", proj["query"], proj["key"]) / np.sqrt(
            proj["key"].shape[-1])
        scores = np.where(valid[:, None, None, :], scores, -np.inf)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        heads = np.einsum("bhqk,bkhd->bqhd", probs, proj["value"])
        attended = np.einsum("bqhd,hde->bqe", heads, w[a + "attention_output/kernel"]) + w[
            a + "attention_output/bias"]
        x = _layer_norm(x + attended, w[f"layer_norm_{i}_0/gamma"], w[f"layer_norm_{i}_0/beta"])
        h = x @ w[f"ffn_{i}_inner/kernel"] + w[f"ffn_{i}_inner/bias"]
        h = np.where(h > 0, h, 0.2 * h)  # leaky_relu
        f = h @ w[f"ffn_{i}_outer/kernel"] + w[f"ffn_{i}_outer/bias"]
        x = _layer_norm(x + f, w[f"layer_norm_{i}_1/gamma"], w[f"layer_norm_{i}_1/beta"])
    if pooling == "target":
        return x[:, 0]
    m = valid[:, :, None].astype(np.float32)
    if pooling == "mean":
        return (x * m).sum(1) / m.sum(1)
    return (x * m).reshape(B, -1)


def _weights_by_name(layer):
    """{name without the layer prefix: variable}, e.g. "attention_0/query/kernel"."""
    names = {}
    for v in layer.weights:
        name = v.name.split(":")[0].split("/", 1)[1]
        names[name] = v
    return names


class BSTTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.rng = np.random.default_rng(11)
        self.q = self.rng.normal(size=(B, E)).astype(np.float32)
        self.k = self.rng.normal(size=(B, T, E)).astype(np.float32)
        self.lengths = np.array([2, 0, 5, 9], np.int32)  # empty row, full row, > T

    def _randomized(self, **kwargs):
        layer = BST(num_heads=H, dropout_rate=0.0, name="bst", **kwargs)
        layer((self.q, self.k, self.lengths))
        weights = {}
        for name, v in _weights_by_name(layer).items():
            v.assign(self.rng.normal(size=v.shape).astype(np.float32) * 0.5)
            weights[name] = v.numpy()
        return layer, weights

    @parameterized.named_parameters(
        ("flatten", "flatten", 1), ("target", "target", 1), ("mean_two_layers", "mean", 2))
    def test_golden(self, pooling, num_layers):
        layer, w = self._randomized(pooling=pooling, num_layers=num_layers)
        out = layer((self.q, self.k, self.lengths), training=False)
        expected = _np_bst(self.q, self.k, self.lengths, w, pooling, num_layers)
        self.assertAllClose(out, expected, rtol=1e-4, atol=1e-4)

    @parameterized.named_parameters(("flatten", "flatten"), ("target", "target"), ("mean", "mean"))
    def test_empty_history_and_padding(self, pooling):
        layer = BST(num_heads=H, pooling=pooling)
        out = layer((self.q, self.k, np.zeros([B], np.int32))).numpy()
        self.assertTrue(np.all(np.isfinite(out)))
        garbage = self.k.copy()
        garbage[0, 2:] = 1e3  # row 0 has length 2: padding content must not matter
        self.assertAllClose(layer((self.q, garbage, self.lengths)), layer((self.q, self.k, self.lengths)))
        one = layer((self.q[:1], self.k[:1], np.array([0], np.int32)))  # batch of one
        self.assertTrue(np.all(np.isfinite(one.numpy())))

    def test_positions_count_back_from_the_target(self):
        # The same two most recent items give the same target output whatever precedes
        # them in the padded row, when positions count from the end.
        layer = BST(num_heads=H, pooling="target", dropout_rate=0.0)
        shifted = np.zeros_like(self.k)
        shifted[:, :2] = self.k[:, 3:5]
        two = layer((self.q, shifted, np.full([B], 2, np.int32)))
        padded = shifted.copy()
        padded[:, 2:] = 7.0
        self.assertAllClose(two, layer((self.q, padded, np.full([B], 2, np.int32))))

    def test_weights(self):
        layer = BST(num_heads=H, intermediate_dim=8, name="bst")
        layer((self.q, self.k, self.lengths))
        shapes = {n: tuple(v.shape) for n, v in _weights_by_name(layer).items()}
        self.assertEqual(shapes["position_embedding"], (T + 1, E))
        self.assertEqual(shapes["attention_0/query/kernel"], (E, H, E // H))
        self.assertEqual(shapes["ffn_0_inner/kernel"], (E, 8))
        self.assertEqual(len(shapes), 1 + 8 + 4 + 4)
        plain = BST(num_heads=H, use_position=False, name="bst")
        plain((self.q, self.k, self.lengths))
        self.assertNotIn("position_embedding", _weights_by_name(plain))

    @parameterized.named_parameters(
        ("layers", {"num_layers": 0}, "Received: num_layers=0"),
        ("heads", {"num_heads": 1.5}, "Received: num_heads=1.5"),
        ("pooling", {"pooling": "max"}, "Received: pooling='max'"),
        ("dropout", {"dropout_rate": 1.0}, "dropout_rate"),
        ("epsilon", {"layer_norm_epsilon": 0}, "Received: layer_norm_epsilon=0"),
    )
    def test_bad_args(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            BST(**kwargs)

    def test_width_mismatch(self):
        with self.assertRaisesRegex(ValueError, "of the same width E"):
            BST()((self.q, self.rng.normal(size=(B, T, E + 1)).astype(np.float32), self.lengths))

    def test_training_uses_dropout(self):
        layer = BST(num_heads=H, dropout_rate=0.5)
        inputs = (self.q, self.k, self.lengths)
        self.assertAllClose(layer(inputs, training=False), layer(inputs, training=False))
        self.assertNotAllClose(layer(inputs, training=True), layer(inputs, training=False))

    def test_config_functional_model_and_saved_model(self):
        layer = BST(num_layers=2, num_heads=H, intermediate_dim=8, pooling="mean", name="bst")
        config = layer.get_config()
        self.assertEqual(BST.from_config(config).get_config(), config)
        q, k = tf_keras.Input((E,)), tf_keras.Input((T, E))
        n = tf_keras.Input((), dtype=tf.int32)
        model = tf_keras.Model([q, k, n], layer((q, k, n)))
        inputs = [self.q, self.k, self.lengths]
        expected = model(inputs, training=False)
        path = self.get_temp_dir() + "/bst_model"
        model.save(path, save_format="tf")
        self.assertAllClose(tf_keras.models.load_model(path)(inputs, training=False), expected)


if __name__ == "__main__":
    tf.test.main()
