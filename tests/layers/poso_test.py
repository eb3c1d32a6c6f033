"""Tests for easyrank.layers.poso."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.mlp import MLP
from easyrank.layers.mmoe import MMoE
from easyrank.layers.poso import POSOMLP, POSOMMoE

B, M, P = 4, 6, 3


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class POSOMLPTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.rng = np.random.default_rng(11)
        self.x = self._random(B, M)
        self.pc = self._random(B, P)

    def _random(self, *shape):
        return self.rng.normal(size=shape).astype(np.float32)

    def _randomise(self, layer):
        values = {}
        for w in layer.weights:
            values[w.name.split("/", 1)[1][:-2]] = self._random(*w.shape)
            w.assign(values[w.name.split("/", 1)[1][:-2]])
        return values

    @parameterized.named_parameters(
        ("mlp_gate", [5], 2.0),
        ("linear_gate", [], 2.0),
        ("scale_3", [2, 2], 3.0),
    )
    def test_golden(self, gate_units, scale):
        units = [4, 3]
        layer = POSOMLP(units, gate_units=gate_units, gate_scale=scale, name="poso")
        layer((self.x, self.pc))
        v = self._randomise(layer)
        h = self.x
        for i in range(len(units)):
            g = self.pc
            depth = len(gate_units) + 1
            for j in range(depth):
                g = g @ v[f"gate_{i}/dense_{j}/kernel"] + v[f"gate_{i}/dense_{j}/bias"]
                g = g if j == depth - 1 else np.maximum(g, 0)
            h = np.maximum(h @ v[f"dense_{i}/kernel"] + v[f"dense_{i}/bias"], 0)
            h = h * scale * _sigmoid(g)
        self.assertAllClose(layer((self.x, self.pc)), h, rtol=1e-4, atol=1e-5)

    @parameterized.named_parameters(("relu", "relu"), ("prelu", "prelu"))
    def test_zero_gates_give_ungated_mlp(self, activation):
        layer = POSOMLP([5, 3], activation=activation, gate_units=[4], name="poso")
        layer((self.x, self.pc))
        v = self._randomise(layer)
        for w in layer.weights:  # zero the gates' last layer: C·σ(0) = 1
            if "/gate_" in w.name and "dense_1" in w.name:
                w.assign(tf.zeros_like(w))
        mlp = MLP([5, 3], activation=activation, name="mlp")
        mlp(self.x)
        for w in mlp.weights:
            w.assign(v[w.name.split("/", 1)[1][:-2]])
        self.assertAllClose(layer((self.x, self.pc)), mlp(self.x))

    def test_weights(self):
        layer = POSOMLP([8, 4], gate_units=[2], use_bias=False, name="poso")
        layer.build(((None, M), (None, P)))
        shapes = {w.name[:-2]: tuple(w.shape) for w in layer.weights}
        self.assertEqual(shapes, {
            "dense_0/kernel": (M, 8), "dense_1/kernel": (8, 4),
            "gate_0/dense_0/kernel": (P, 2), "gate_0/dense_0/bias": (2,),
            "gate_0/dense_1/kernel": (2, 8), "gate_0/dense_1/bias": (8,),
            "gate_1/dense_0/kernel": (P, 2), "gate_1/dense_0/bias": (2,),
            "gate_1/dense_1/kernel": (2, 4), "gate_1/dense_1/bias": (4,),
        })

    @parameterized.named_parameters(
        ("units", {"hidden_units": []}, "`hidden_units` must be a non-empty list"),
        ("gate_units", {"gate_units": [-1]}, r"Received: gate_units=\[-1\]"),
        ("gate_scale", {"gate_scale": 0}, "`gate_scale` must be a positive number. "
                                          "Received: gate_scale=0"),
        ("activation", {"gate_activation": "?"}, "Received: gate_activation='\\?'"),
    )
    def test_bad_args(self, kwargs, message):
        with self.assertRaisesRegex(ValueError, message):
            POSOMLP(**{"hidden_units": [4], **kwargs})

    def test_bad_inputs(self):
        with self.assertRaisesRegex(ValueError, r"expects inputs `\(x, x_pc\)`"):
            POSOMLP([4])(self.x)

    def test_config_round_trip(self):
        layer = POSOMLP([8, 4], activation="dice", dropout_rate=0.1, gate_units=[],
                        gate_scale=3.0, kernel_regularizer="l1", name="poso")
        config = layer.get_config()
        self.assertEqual(POSOMLP.from_config(config).get_config(), config)

    def test_training_vs_inference_and_batch_of_one(self):
        layer = POSOMLP([64], dropout_rate=0.5)
        x, pc = np.abs(self.x[:1]), self.pc[:1]
        self.assertEqual(layer((x, pc)).shape, (1, 64))
        self.assertAllClose(layer((x, pc)), layer((x, pc), training=False))
        self.assertNotAllClose(layer((x, pc), training=True), layer((x, pc)))

    def test_functional_model_and_saved_model(self):
        x, pc = tf_keras.Input((M,)), tf_keras.Input((P,))
        model = tf_keras.Model([x, pc], POSOMLP([8, 4], activation="prelu")((x, pc)))
        expected = model([self.x, self.pc])
        path = self.get_temp_dir() + "/poso_model"
        model.save(path, save_format="tf")
        loaded = tf_keras.models.load_model(path)
        self.assertAllClose(loaded([self.x, self.pc]), expected)


class POSOMMoETest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.rng = np.random.default_rng(13)
        self.x = self.rng.normal(size=(B, M)).astype(np.float32)
        self.pc = self.rng.normal(size=(B, P)).astype(np.float32)

    def _randomise(self, layer):
        for w in layer.weights:
            w.assign(self.rng.normal(size=w.shape).astype(np.float32))

    def test_golden(self):
        n, d, k = 3, 4, 2
        layer = POSOMMoE(n, [d], k, poso_gate_units=[2], name="moe")
        layer((self.x, self.pc))
        self._randomise(layer)
        v = {w.name[len("moe/"):-2]: w.numpy() for w in layer.weights}
        experts = np.maximum(
            np.einsum("bm,nmd->bnd", self.x, v["experts/kernel_0"]) + v["experts/bias_0"], 0)
        hidden = np.maximum(
            np.einsum("bp,nph->bnh", self.pc, v["poso_gates/kernel_0"])
            + v["poso_gates/bias_0"], 0)
        logits = np.einsum("bnh,nhd->bnd", hidden, v["poso_gates/kernel_1"])
        experts = experts * 2.0 * _sigmoid(logits + v["poso_gates/bias_1"])
        self.assertNotIn("gates/bias_0", v)  # softmax(W x): the paper's gates have no bias
        gate_logits = np.einsum("bm,kmn->bkn", self.x, v["gates/kernel_0"])
        gates = np.exp(gate_logits) / np.exp(gate_logits).sum(-1, keepdims=True)
        expected = np.einsum("bkn,bnd->bkd", gates, experts)
        for t, out in enumerate(layer((self.x, self.pc))):
            self.assertAllClose(out, expected[:, t], rtol=1e-4, atol=1e-5)

    def test_zero_poso_gates_give_mmoe_and_separate_gate_input(self):
        gate_x = self.rng.normal(size=(B, 2)).astype(np.float32)
        layer = POSOMMoE(3, [5, 4], 2, gate_units=[3], name="moe")
        layer((self.x, gate_x, self.pc))
        self._randomise(layer)
        layer.poso_gates.kernels[-1].assign(tf.zeros_like(layer.poso_gates.kernels[-1]))
        layer.poso_gates.biases[-1].assign(tf.zeros_like(layer.poso_gates.biases[-1]))
        mmoe = MMoE(3, [5, 4], 2, gate_units=[3], name="moe")
        mmoe((self.x, gate_x))
        values = {w.name: w for w in layer.weights}
        for w in mmoe.weights:
            w.assign(values[w.name])
        for got, want in zip(layer((self.x, gate_x, self.pc)), mmoe((self.x, gate_x))):
            self.assertAllClose(got, want)

    def test_weights(self):
        layer = POSOMMoE(1, [8, 4], 2, poso_gate_units=[], name="moe")
        layer.build(((None, M), (None, P)))
        shapes = {w.name[:-2]: tuple(w.shape) for w in layer.weights}
        self.assertEqual(shapes, {
            "experts/kernel_0": (1, M, 8), "experts/bias_0": (1, 8),
            "experts/kernel_1": (1, 8, 4), "experts/bias_1": (1, 4),
            "poso_gates/kernel_0": (1, P, 4), "poso_gates/bias_0": (1, 4),
        })

    def test_bad_args(self):
        with self.assertRaisesRegex(ValueError, "Received: poso_gate_units=\\[0\\]"):
            POSOMMoE(2, [4], 2, poso_gate_units=[0])
        with self.assertRaisesRegex(ValueError, "`gate_scale` must be a positive number"):
            POSOMMoE(2, [4], 2, gate_scale=-1.0)
        with self.assertRaisesRegex(ValueError, "`num_experts` must be a positive integer"):
            POSOMMoE(0, [4], 2)
        with self.assertRaisesRegex(ValueError, r"POSOMMoE expects inputs `\(x, x_pc\)`"):
            POSOMMoE(2, [4], 2)(self.x)

    def test_config_round_trip(self):
        layer = POSOMMoE(3, [8], 2, gate_units=[4], poso_gate_units=[6],
                         poso_gate_activation="tanh", gate_scale=2.5, dropout_rate=0.1)
        config = layer.get_config()
        self.assertEqual(POSOMMoE.from_config(config).get_config(), config)

    def test_functional_model_and_saved_model(self):
        x, pc = tf_keras.Input((M,)), tf_keras.Input((P,))
        outputs = POSOMMoE(2, [4], 2, dropout_rate=0.2)((x, pc))
        model = tf_keras.Model([x, pc], outputs)
        expected = model([self.x[:1], self.pc[:1]])  # batch of one
        path = self.get_temp_dir() + "/poso_mmoe_model"
        model.save(path, save_format="tf")
        loaded = tf_keras.models.load_model(path)
        for got, want in zip(loaded([self.x[:1], self.pc[:1]]), expected):
            self.assertAllClose(got, want)


if __name__ == "__main__":
    tf.test.main()
