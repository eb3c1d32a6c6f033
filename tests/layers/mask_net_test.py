"""Tests for easyrank.layers.mask_net (docs/blocks.md#masknet)."""

import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.mask_net import MaskBlock, MaskNet

_EPS = 1e-6  # MaskNet's layer_norm_epsilon default.


def _relu(x):
    return np.maximum(x, 0.0)


def _layer_norm(x, gamma, beta, eps=_EPS):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _numpy_mask_block(emb, net, w, act=_relu, input_norm=None):
    """V_out = act(LN(W_i (V_mask * N(V_net)))), V_mask = W_d2 ReLU(W_d1 P(V_emb) + b1) + b2.

    `w` maps sublayer weight names ("aggregation/kernel", ...) to arrays; Dense
    kernels are [in, out], so `x @ K` is `W x`.
    """
    mask_in = emb @ w["projection/kernel"] if "projection/kernel" in w else emb
    hidden = _relu(mask_in @ w["aggregation/kernel"] + w["aggregation/bias"])
    mask = hidden @ w["mask/kernel"] + w["mask/bias"]
    if input_norm is None:
        input_norm = "input_layer_norm/gamma" in w
    if input_norm:  # a KeyError here: the layer lacks a normalisation the paper has
        net = _layer_norm(net, w["input_layer_norm/gamma"], w["input_layer_norm/beta"])
    out = (mask * net) @ w["hidden/kernel"]
    out = _layer_norm(out, w["output_layer_norm/gamma"], w["output_layer_norm/beta"])
    return act(out)


def _randomize(layer, rng):
    """Sets seeded random weights; returns {"<block>/<sublayer>/<weight>": array}."""
    values = {}
    for v in layer.weights:
        value = rng.normal(scale=0.5, size=v.shape).astype(np.float32)
        v.assign(value)
        values[v.name.split(":")[0]] = value.astype(np.float64)
    return values


def _block_weights(values, prefix):
    prefix = prefix.rstrip("/") + "/"
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}


class MaskBlockTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        dict(testcase_name="on_embedding", on_block=False, projection_dim=None,
             input_layer_norm=False, activation="relu"),
        dict(testcase_name="on_embedding_ln_projection", on_block=False, projection_dim=3,
             input_layer_norm=True, activation="relu"),
        dict(testcase_name="on_block_linear", on_block=True, projection_dim=None,
             input_layer_norm=False, activation="linear"),
        dict(testcase_name="on_block_ln", on_block=True, projection_dim=2,
             input_layer_norm=True, activation="relu"),
    )
    def test_golden_output(self, on_block, projection_dim, input_layer_norm, activation):
        rng = np.random.default_rng(0)
        emb = rng.normal(size=(4, 6)).astype(np.float32)
        prev = rng.normal(size=(4, 5)).astype(np.float32)
        layer = MaskBlock(
            output_size=3,
            aggregation_size=7,
            projection_dim=projection_dim,
            input_layer_norm=input_layer_norm,
            activation=activation,
            name="block",
        )
        inputs = [emb, prev] if on_block else emb
        layer(inputs)
        weights = _block_weights(_randomize(layer, rng), "block")
        act = _relu if activation == "relu" else (lambda x: x)
        net = prev if on_block else emb
        expected = _numpy_mask_block(emb.astype(np.float64), net.astype(np.float64),
                                     weights, act)
        self.assertAllClose(expected, layer(inputs), rtol=1e-5, atol=1e-5)

    @parameterized.named_parameters(
        dict(testcase_name="aggregation_size", kwargs={"aggregation_size": 10},
             projection_dim=None, agg=10),
        dict(testcase_name="reduction_factor", kwargs={"reduction_factor": 1.5},
             projection_dim=None, agg=12),
        dict(testcase_name="projection", kwargs={"reduction_factor": 2},
             projection_dim=4, agg=16),
    )
    def test_weights(self, kwargs, projection_dim, agg):
        m, n, out = 8, 5, 3
        layer = MaskBlock(output_size=out, projection_dim=projection_dim, **kwargs)
        layer([tf.zeros((2, m)), tf.zeros((2, n))])
        shapes = {v.name.split("/", 1)[1].split(":")[0]: tuple(v.shape) for v in layer.weights}
        mask_in = m
        expected = {}
        if projection_dim:
            expected["projection/kernel"] = (m, projection_dim)
            mask_in = projection_dim
        expected.update({
            "aggregation/kernel": (mask_in, agg),
            "aggregation/bias": (agg,),
            "mask/kernel": (agg, n),  # the mask has the masked tensor's width
            "mask/bias": (n,),
            "hidden/kernel": (n, out),  # W_i, no bias
            "output_layer_norm/gamma": (out,),
            "output_layer_norm/beta": (out,),
        })
        self.assertEqual(expected, shapes)

    def test_initializers(self):
        layer = MaskBlock(output_size=4, aggregation_size=8)
        layer(tf.zeros((1, 6)))
        self.assertIsInstance(layer.aggregation.kernel_initializer,
                              tf_keras.initializers.HeUniform)
        self.assertIsInstance(layer.mask.kernel_initializer,
                              tf_keras.initializers.GlorotUniform)
        self.assertAllEqual(np.zeros(8), layer.aggregation.bias)

    @parameterized.named_parameters(
        dict(testcase_name="neither", kwargs={},
             match=r"Exactly one of `aggregation_size` and `reduction_factor` must be set. "
                   r"Received: aggregation_size=None, reduction_factor=None"),
        dict(testcase_name="both", kwargs={"aggregation_size": 4, "reduction_factor": 2.0},
             match=r"Exactly one of .* aggregation_size=4, reduction_factor=2.0"),
        dict(testcase_name="aggregation_size", kwargs={"aggregation_size": 0},
             match=r"`aggregation_size` must be a positive integer. Received: "
                   r"aggregation_size=0"),
        dict(testcase_name="reduction_factor", kwargs={"reduction_factor": -1.0},
             match=r"`reduction_factor` must be a positive number. Received: "
                   r"reduction_factor=-1.0"),
        dict(testcase_name="output_size", kwargs={"output_size": 0, "aggregation_size": 4},
             match=r"`output_size` must be a positive integer. Received: output_size=0"),
        dict(testcase_name="projection_dim",
             kwargs={"projection_dim": -1, "aggregation_size": 4},
             match=r"`projection_dim` must be a positive integer or None. Received: "
                   r"projection_dim=-1"),
        dict(testcase_name="activation", kwargs={"activation": "nope", "aggregation_size": 4},
             match=r"`activation` must be the name of a tf_keras activation"),
    )
    def test_bad_arguments(self, kwargs, match):
        kwargs = {"output_size": 4, **kwargs}
        with self.assertRaisesRegex(ValueError, match):
            MaskBlock(**kwargs)

    def test_bad_inputs(self):
        layer = MaskBlock(output_size=4, aggregation_size=4)
        with self.assertRaisesRegex(ValueError, "expects 2D inputs"):
            layer(tf.zeros((2, 3, 4)))

    def test_config_round_trip(self):
        layer = MaskBlock(output_size=4, reduction_factor=2.0, projection_dim=3,
                          input_layer_norm=True, activation="linear", kernel_regularizer="l2")
        x = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
        y = layer(x)
        config = layer.get_config()
        restored = MaskBlock.from_config(config)
        self.assertEqual(config, restored.get_config())
        restored(x)
        restored.set_weights(layer.get_weights())
        self.assertAllClose(y, restored(x))
        self.assertEqual("easyrank>MaskBlock",
                         tf_keras.layers.serialize(layer)["registered_name"])


    @parameterized.named_parameters(("default", {}, 1e-6), ("old", {"layer_norm_epsilon": 1e-3}, 1e-3))
    def test_layer_norm_normalises_a_small_variance_input(self, kwargs, eps):
        # Small initial embeddings give pre-norm variances of 1e-5..1e-2 (here); a
        # LayerNorm must still normalise them (per-row std 1), which tf_keras'
        # default epsilon 1e-3 does not (issue 17). 1e-3 stays available.
        rng = np.random.default_rng(4)
        emb = (rng.normal(size=(8, 6)) * 0.2).astype(np.float32)
        tf_keras.utils.set_random_seed(8)  # the weights too: the variance range below needs them
        layer = MaskBlock(output_size=16, aggregation_size=8, activation="linear", **kwargs)
        out = layer(emb).numpy()
        w = {v.name.split(":")[0].split("/", 1)[1]: v.numpy().astype(np.float64) for v in layer.weights}
        e = emb.astype(np.float64)
        mask = _relu(e @ w["aggregation/kernel"] + w["aggregation/bias"]) @ w["mask/kernel"] + w["mask/bias"]
        hidden = (mask * e) @ w["hidden/kernel"]
        self.assertTrue(np.all((hidden.var(axis=-1) > 5e-5) & (hidden.var(axis=-1) < 1e-2)))
        expected = _layer_norm(hidden, 1.0, 0.0, eps)
        self.assertAllClose(out, expected, rtol=1e-3, atol=1e-4)
        std = out.std(axis=-1)
        if eps == 1e-6:
            self.assertAllClose(std, np.ones_like(std), atol=0.02)
        else:
            self.assertLess(std.min(), 0.5)  # rescaled, not normalised

_NET_VARIANTS = (
    dict(testcase_name="serial", parallel=False, hidden_units=()),
    dict(testcase_name="parallel", parallel=True, hidden_units=()),
    dict(testcase_name="serial_mlp", parallel=False, hidden_units=(4, 2)),
    dict(testcase_name="parallel_mlp", parallel=True, hidden_units=(4,)),
)


class MaskNetTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(*_NET_VARIANTS)
    def test_golden_output(self, parallel, hidden_units):
        rng = np.random.default_rng(2)
        emb = rng.normal(size=(5, 6)).astype(np.float32)
        layer = MaskNet(num_blocks=3, output_size=4, reduction_factor=1.0, parallel=parallel,
                        input_layer_norm=True, hidden_units=hidden_units, name="net")
        layer(emb)
        values = _randomize(layer, rng)
        e = emb.astype(np.float64)
        outs, x = [], e
        for k in range(3):
            w = _block_weights(values, f"net/mask_block_{k}")
            # The paper normalises the feature embedding only: every parallel block's
            # input, but in the serial form only block 1's (later ones mask block k-1).
            self.assertEqual("input_layer_norm/gamma" in w, parallel or k == 0)
            x = _numpy_mask_block(e, e if parallel else x, w, input_norm=parallel or k == 0)
            outs.append(x)
        x = np.concatenate(outs, axis=-1) if parallel else outs[-1]
        for i in range(len(hidden_units)):
            x = _relu(x @ values[f"net/mlp/dense_{i}/kernel"] + values[f"net/mlp/dense_{i}/bias"])
        self.assertAllClose(x, layer(emb), rtol=1e-5, atol=1e-5)

    @parameterized.named_parameters(
        dict(testcase_name="serial", parallel=False, hidden_units=(), width=4),
        dict(testcase_name="parallel", parallel=True, hidden_units=(), width=12),
        dict(testcase_name="mlp", parallel=True, hidden_units=(8, 2), width=2),
    )
    def test_output_shape_and_weights(self, parallel, hidden_units, width):
        layer = MaskNet(num_blocks=3, output_size=4, aggregation_size=5, parallel=parallel,
                        hidden_units=hidden_units)
        self.assertEqual((2, width), tuple(layer(tf.zeros((2, 6))).shape))
        self.assertEqual((None, width), tuple(layer.compute_output_shape((None, 6))))
        # Per block: aggregation 6*5+5, mask 5*n+n, hidden n*4, output LN 2*4, where n
        # is 6 for blocks on the embedding and 4 for serial blocks on a block.
        on_emb = 6 * 5 + 5 + 5 * 6 + 6 + 6 * 4 + 8
        on_block = 6 * 5 + 5 + 5 * 4 + 4 + 4 * 4 + 8
        blocks = 3 * on_emb if parallel else on_emb + 2 * on_block
        mlp, fan_in = 0, 4 * (3 if parallel else 1)
        for units in hidden_units:
            mlp += fan_in * units + units
            fan_in = units
        self.assertEqual(blocks + mlp, layer.count_params())
        names = [v.name for v in layer.weights]
        self.assertLen(set(names), len(names))

    @parameterized.named_parameters(
        dict(testcase_name="num_blocks", kwargs={"num_blocks": 0},
             match=r"`num_blocks` must be a positive integer. Received: num_blocks=0"),
        dict(testcase_name="no_aggregation", kwargs={"aggregation_size": None},
             match=r"Exactly one of `aggregation_size` and `reduction_factor`"),
        dict(testcase_name="dropout_rate", kwargs={"dropout_rate": 1.5, "hidden_units": [2]},
             match=r"`dropout_rate` must be a float in \[0, 1\). Received: dropout_rate=1.5"),
        dict(testcase_name="dropout_without_mlp", kwargs={"dropout_rate": 0.5},
             match=r"`dropout_rate` applies to the MLP, which needs `hidden_units`"),
        dict(testcase_name="hidden_units", kwargs={"hidden_units": [4, 0]},
             match=r"`hidden_units` must be a list of positive integers"),
    )
    def test_bad_arguments(self, kwargs, match):
        kwargs = {"num_blocks": 2, "output_size": 4, "aggregation_size": 8, **kwargs}
        with self.assertRaisesRegex(ValueError, match):
            MaskNet(**kwargs)

    def test_config_round_trip(self):
        layer = MaskNet(num_blocks=2, output_size=4, reduction_factor=0.5, projection_dim=3,
                        parallel=True, hidden_units=[3], dropout_rate=0.1)
        x = np.random.default_rng(3).normal(size=(3, 6)).astype(np.float32)
        y = layer(x)
        config = layer.get_config()
        restored = MaskNet.from_config(config)
        self.assertEqual(config, restored.get_config())
        restored(x)
        restored.set_weights(layer.get_weights())
        self.assertAllClose(y, restored(x))
        serialized = tf_keras.layers.serialize(layer)
        self.assertEqual("easyrank>MaskNet", serialized["registered_name"])
        self.assertIsInstance(tf_keras.layers.deserialize(serialized), MaskNet)

    @parameterized.named_parameters(*_NET_VARIANTS)
    def test_functional_model_and_saved_model(self, parallel, hidden_units):
        inputs = tf_keras.Input(shape=(6,))
        x = MaskNet(num_blocks=2, output_size=4, reduction_factor=2.0, parallel=parallel,
                    hidden_units=hidden_units)(inputs)
        model = tf_keras.Model(inputs, tf_keras.layers.Dense(1)(x))
        rng = np.random.default_rng(4)
        x = rng.normal(size=(16, 6)).astype(np.float32)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, rng.normal(size=(16, 1)), epochs=1, batch_size=8, verbose=0)
        expected = model(x)
        path = os.path.join(self.get_temp_dir(), "mask_net_model")
        model.save(path, save_format="tf")
        self.assertAllClose(expected, tf.saved_model.load(path)(x), rtol=1e-5, atol=1e-5)
        reloaded = tf_keras.models.load_model(path)
        self.assertAllClose(expected, reloaded(x), rtol=1e-5, atol=1e-5)

    def test_mask_block_in_functional_model_with_two_inputs(self):
        emb = tf_keras.Input(shape=(6,))
        first = MaskBlock(output_size=4, aggregation_size=8)(emb)
        second = MaskBlock(output_size=3, aggregation_size=8)([emb, first])
        model = tf_keras.Model(emb, second)
        self.assertEqual((1, 3), tuple(model(tf.ones((1, 6))).shape))

    def test_batch_of_one(self):
        layer = MaskNet(num_blocks=2, output_size=4, aggregation_size=3)
        self.assertEqual((1, 4), tuple(layer(tf.ones((1, 5))).shape))

    def test_dropout_training_vs_inference(self):
        layer = MaskNet(num_blocks=1, output_size=8, aggregation_size=8, hidden_units=[64],
                        dropout_rate=0.5)
        x = tf.random.stateless_normal((4, 6), seed=(1, 2))
        self.assertAllClose(layer(x, training=False), layer(x, training=False))
        self.assertAllClose(layer(x), layer(x, training=False))
        trained = layer(x, training=True)
        self.assertNotAllClose(layer(x, training=False), trained)
        # Inverted dropout: each unit is zeroed or scaled by 1 / (1 - rate).
        ratio = trained / tf.maximum(layer(x, training=False), 1e-6)
        kept = tf.boolean_mask(ratio, trained > 0)
        self.assertAllClose(2.0 * tf.ones_like(kept), kept, rtol=1e-4)


if __name__ == "__main__":
    tf.test.main()
