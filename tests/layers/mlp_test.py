"""Tests for easyrank.layers.mlp and easyrank.layers.dice."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.dice import Dice
from easyrank.layers.mlp import MLP


def _set_weights_by_name(layer, values):
    """Assigns `values[suffix]` to the weight whose name contains `/suffix:`."""
    for suffix, value in values.items():
        matches = [w for w in layer.weights if f"/{suffix}:" in "/" + w.name]
        assert len(matches) == 1, (suffix, [w.name for w in layer.weights])
        matches[0].assign(value)


def _np_act(name, x, params):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "tanh":
        return np.tanh(x)
    if name == "linear":
        return x
    if name == "prelu":
        return np.where(x > 0, x, params["alpha"] * x)
    if name == "dice":
        z = (x - params["mean"]) / np.sqrt(params["var"] + 1e-9)
        p = 1 / (1 + np.exp(-z))
        return p * x + (1 - p) * params["alpha"] * x
    raise ValueError(name)


class MLPTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.rng = np.random.default_rng(42)

    def _random(self, *shape):
        return self.rng.normal(size=shape).astype(np.float32)

    @parameterized.named_parameters(
        ("relu", "relu", None, None),
        ("tanh_linear_out", "tanh", "linear", None),
        ("prelu", "prelu", None, None),
        ("dice", "dice", None, None),
        ("batch_norm", "relu", None, "batch"),
        ("layer_norm", "relu", "sigmoid", "layer"),
    )
    def test_golden_inference(self, activation, output_activation, norm):
        units = [5, 3]
        layer = MLP(
            units,
            activation=activation,
            output_activation=output_activation,
            use_batch_norm=norm == "batch",
            use_layer_norm=norm == "layer",
        )
        x = self._random(4, 6)
        layer.build(x.shape)
        values, h, width = {}, x, 6
        for i, u in enumerate(units):
            w, b = self._random(width, u), self._random(u)
            values[f"dense_{i}/kernel"], values[f"dense_{i}/bias"] = w, b
            h = h @ w + b
            if norm == "batch":
                mm, mv = self._random(u), np.abs(self._random(u)) + 0.5
                g, be = self._random(u), self._random(u)
                values.update({f"batch_norm_{i}/moving_mean": mm,
                               f"batch_norm_{i}/moving_variance": mv,
                               f"batch_norm_{i}/gamma": g, f"batch_norm_{i}/beta": be})
                h = g * (h - mm) / np.sqrt(mv + 1e-3) + be
            if norm == "layer":
                mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
                h = (h - mu) / np.sqrt(var + 1e-3)
            act = activation
            if i == len(units) - 1 and output_activation is not None:
                act = output_activation
            params = {}
            if act in ("prelu", "dice"):
                params["alpha"] = self._random(u)
                values[f"activation_{i}/alpha"] = params["alpha"]
            if act == "dice":
                params["mean"], params["var"] = self._random(u), np.abs(self._random(u)) + 0.5
                values[f"activation_{i}/batch_norm/moving_mean"] = params["mean"]
                values[f"activation_{i}/batch_norm/moving_variance"] = params["var"]
            if act == "sigmoid":
                h = 1 / (1 + np.exp(-h))
            else:
                h = _np_act(act, h, params)
            width = u
        _set_weights_by_name(layer, values)
        self.assertAllClose(layer(x, training=False), h, rtol=1e-4, atol=1e-5)

    @parameterized.named_parameters(
        ("plain", {}, {"dense_0/kernel": (6, 4), "dense_0/bias": (4,),
                       "dense_1/kernel": (4, 2), "dense_1/bias": (2,)}),
        ("no_bias_prelu", {"use_bias": False, "activation": "prelu"},
         {"dense_0/kernel": (6, 4), "dense_1/kernel": (4, 2),
          "activation_0/alpha": (4,), "activation_1/alpha": (2,)}),
        ("layer_norm", {"use_layer_norm": True},
         {"dense_0/kernel": (6, 4), "dense_0/bias": (4,), "dense_1/kernel": (4, 2),
          "dense_1/bias": (2,), "layer_norm_0/gamma": (4,), "layer_norm_0/beta": (4,),
          "layer_norm_1/gamma": (2,), "layer_norm_1/beta": (2,)}),
    )
    def test_weights(self, kwargs, expected):
        layer = MLP([4, 2], name="mlp", **kwargs)
        layer.build((None, 6))
        got = {w.name.removeprefix("mlp/")[:-len(":0")]: tuple(w.shape)
               for w in layer.weights}
        self.assertEqual(got, expected)
        self.assertLen(layer.trainable_weights, len(expected))

    def test_prelu_on_sequences_shares_alpha_over_time(self):
        layer = MLP([3], activation="prelu", name="mlp")
        y = layer(tf.ones([2, 7, 5]))
        self.assertEqual(y.shape, (2, 7, 3))
        alpha = [w for w in layer.weights if "alpha" in w.name][0]
        self.assertEqual(tuple(alpha.shape), (1, 3))

    @parameterized.named_parameters(
        ("empty_units", {"hidden_units": []}, "`hidden_units` must be a non-empty list"),
        ("zero_unit", {"hidden_units": [4, 0]}, r"Received: hidden_units=\[4, 0\]"),
        ("units_not_list", {"hidden_units": 4}, "`hidden_units` must be a non-empty"),
        ("bad_activation", {"hidden_units": [4], "activation": "foo"},
         "`activation` must be the name of a tf_keras activation.*Received: activation='foo'"),
        ("bad_output_activation", {"hidden_units": [4], "output_activation": "bar"},
         "Received: output_activation='bar'"),
        ("bad_dropout", {"hidden_units": [4], "dropout_rate": 1.0},
         r"`dropout_rate` must be a float in \[0, 1\). Received: dropout_rate=1.0"),
        ("both_norms", {"hidden_units": [4], "use_batch_norm": True, "use_layer_norm": True},
         "At most one of `use_batch_norm` and `use_layer_norm`"),
    )
    def test_bad_args(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            MLP(**kwargs)

    def test_config_round_trip(self):
        layer = MLP([8, 4], activation="dice", dropout_rate=0.2, use_batch_norm=True,
                    use_bias=False, kernel_initializer="he_uniform",
                    kernel_regularizer=tf_keras.regularizers.L2(1e-4),
                    output_activation="linear", name="tower")
        config = layer.get_config()
        self.assertEqual(MLP.from_config(config).get_config(), config)
        self.assertEqual(config["hidden_units"], [8, 4])

    def test_functional_model_and_saved_model(self):
        inputs = tf_keras.Input((6,))
        outputs = MLP([8, 4], activation="dice", dropout_rate=0.3, use_layer_norm=True)(inputs)
        model = tf_keras.Model(inputs, outputs)
        x = self._random(3, 6)
        expected = model(x, training=False)
        path = self.get_temp_dir() + "/mlp_model"
        model.save(path, save_format="tf")
        loaded = tf_keras.models.load_model(path)
        self.assertAllClose(loaded(x, training=False), expected)
        self.assertIsInstance(loaded.layers[1], MLP)

    def test_training_vs_inference(self):
        layer = MLP([64], dropout_rate=0.5)
        x = np.abs(self._random(4, 6)) + 1.0
        inference = layer(x, training=False)
        self.assertAllClose(inference, layer(x))
        training = layer(x, training=True)
        self.assertGreater(np.mean(training.numpy() == 0), np.mean(inference.numpy() == 0))

    def test_batch_of_one(self):
        layer = MLP([4, 2], use_batch_norm=True)
        self.assertEqual(layer(self._random(1, 6), training=True).shape, (1, 2))

    def test_unseeded_initializer_gives_distinct_kernels(self):
        layer = MLP([5, 5, 5])
        layer.build((None, 5))
        kernels = [w.numpy() for w in layer.weights if "kernel" in w.name]
        self.assertNotAllClose(kernels[1], kernels[2])


class DiceTest(tf.test.TestCase, parameterized.TestCase):
    def test_golden_training_uses_batch_statistics(self):
        x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
        layer = Dice()
        layer.build(x.shape)
        alpha = np.array([0.1, -0.2, 0.3], np.float32)
        layer.alpha.assign(alpha)
        z = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-9)
        p = 1 / (1 + np.exp(-z))
        self.assertAllClose(layer(x, training=True), p * x + (1 - p) * alpha * x,
                            rtol=1e-4, atol=1e-5)

    def test_weights_and_multi_axis(self):
        layer = Dice(axis=[1, 2])
        layer.build((None, 3, 4))
        self.assertEqual(tuple(layer.alpha.shape), (3, 4))
        self.assertLen(layer.trainable_weights, 1)

    @parameterized.named_parameters(
        ("axis", {"axis": []}, "`axis` must be an int or a non-empty list"),
        ("epsilon", {"epsilon": 0.0},
         "`epsilon` must be a positive number. Received: epsilon=0.0"),
        ("momentum", {"momentum": 1.0},
         r"`momentum` must be a float in \[0, 1\). Received: momentum=1.0"),
    )
    def test_bad_args(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            Dice(**kwargs)

    def test_config_round_trip(self):
        layer = Dice(axis=[1, 2], epsilon=1e-6, momentum=0.9)
        self.assertEqual(Dice.from_config(layer.get_config()).get_config(), layer.get_config())


if __name__ == "__main__":
    tf.test.main()
