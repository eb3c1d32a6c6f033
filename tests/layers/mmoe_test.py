"""Tests for easyrank.layers.mmoe."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.mlp import MLP
from easyrank.layers.mmoe import MMoE, ParallelMLP

B, M = 5, 6


def _np_mlp(x, kernels, biases, hidden_act, out_act):
    for i, (w, b) in enumerate(zip(kernels, biases)):
        x = x @ w + b
        act = out_act if i == len(kernels) - 1 else hidden_act
        x = np.maximum(x, 0) if act == "relu" else x
    return x


def _softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


class MMoETest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.rng = np.random.default_rng(3)
        self.x = self._random(B, M)

    def _random(self, *shape):
        return self.rng.normal(size=shape).astype(np.float32)

    def _randomise(self, layer):
        values = {}
        for w in layer.weights:
            values[w.name] = self._random(*w.shape)
            w.assign(values[w.name])
        return values

    @parameterized.named_parameters(
        ("linear_gate", [], False, False),
        ("mlp_gate", [4], False, False),
        ("separate_gate_input", [3], True, False),
        ("linear_gate_with_bias", [], False, True),
        ("mlp_gate_with_bias", [4], False, True),
    )
    def test_golden(self, gate_units, separate_gate_input, gate_use_bias):
        n, units, k = 3, [5, 2], 2
        layer = MMoE(n, units, k, gate_units=gate_units, gate_use_bias=gate_use_bias, name="mmoe")
        gate_x = self._random(B, 4) if separate_gate_input else self.x
        inputs = (self.x, gate_x) if separate_gate_input else self.x
        layer(inputs)
        v = self._randomise(layer)
        experts = np.stack([
            _np_mlp(self.x, [v[f"mmoe/experts/kernel_{j}:0"][i] for j in range(2)],
                    [v[f"mmoe/experts/bias_{j}:0"][i] for j in range(2)], "relu", "relu")
            for i in range(n)], axis=1)  # [B, n, d]
        depth = len(gate_units) + 1
        last = f"mmoe/gates/bias_{depth - 1}:0"
        # The paper's gate is softmax(W_gk x): no bias in the final layer unless asked for.
        self.assertEqual(last in v, gate_use_bias)
        for t, out in enumerate(layer(inputs)):
            biases = [v[f"mmoe/gates/bias_{j}:0"][t] for j in range(depth - 1)]
            biases.append(v[last][t] if gate_use_bias else 0.0)
            logits = _np_mlp(gate_x, [v[f"mmoe/gates/kernel_{j}:0"][t] for j in range(depth)],
                             biases, "relu", "linear")
            expected = np.einsum("bn,bnd->bd", _softmax(logits), experts)
            self.assertAllClose(out, expected, rtol=1e-4, atol=1e-5)

    def test_weights(self):
        layer = MMoE(4, [8, 3], 2, gate_units=[5], name="mmoe")
        layer.build((None, M))
        shapes = {w.name[:-2]: tuple(w.shape) for w in layer.weights}
        self.assertEqual(shapes, {
            "experts/kernel_0": (4, M, 8), "experts/bias_0": (4, 8),
            "experts/kernel_1": (4, 8, 3), "experts/bias_1": (4, 3),
            "gates/kernel_0": (2, M, 5), "gates/bias_0": (2, 5),
            "gates/kernel_1": (2, 5, 4),
        })

    def test_kernels_are_initialised_per_expert_like_dense(self):
        layer = MMoE(8, [64], 1)
        layer.build((None, 64))
        kernel = layer.experts.kernels[0].numpy()
        limit = np.sqrt(6 / (64 + 64))  # Glorot-uniform of one Dense(64) on 64 inputs
        self.assertLessEqual(np.abs(kernel).max(), limit)
        self.assertGreater(np.abs(kernel).max(), 0.9 * limit)
        self.assertNotAllClose(kernel[0], kernel[1])

    def test_one_expert_is_shared_bottom_mlp(self):
        layer = MMoE(1, [8, 4], 3, dropout_rate=0.2)
        outputs = layer(self.x)
        self.assertLen(outputs, 3)
        self.assertFalse([w for w in layer.weights if "gates" in w.name])
        mlp = MLP([8, 4], dropout_rate=0.2)
        mlp(self.x)
        self._randomise(layer)
        ek = layer.experts
        mlp.set_weights([ek.kernels[0][0], ek.biases[0][0], ek.kernels[1][0], ek.biases[1][0]])
        expected = mlp(self.x, training=False)
        for out in layer(self.x, training=False):
            self.assertAllClose(out, expected)

    @parameterized.named_parameters(
        ("num_experts", {"num_experts": 0},
         "`num_experts` must be a positive integer. Received: num_experts=0"),
        ("num_tasks", {"num_tasks": -1},
         "`num_tasks` must be a positive integer. Received: num_tasks=-1"),
        ("expert_units", {"expert_units": []}, "`expert_units` must be a non-empty list"),
        ("gate_units", {"gate_units": [0]}, r"`gate_units` must be a list of positive"),
        ("dropout", {"dropout_rate": -0.1}, "`dropout_rate` must be a float in"),
        ("activation", {"expert_activation": "x"}, "Received: expert_activation='x'"),
    )
    def test_bad_args(self, kwargs, message):
        args = {"num_experts": 2, "expert_units": [4], "num_tasks": 2, **kwargs}
        with self.assertRaisesRegex(ValueError, message):
            MMoE(**args)

    def test_config_round_trip(self):
        layer = MMoE(3, [8, 4], 2, gate_units=[6], expert_activation="prelu",
                     dropout_rate=0.1, kernel_regularizer="l2", name="mmoe")
        config = layer.get_config()
        self.assertEqual(MMoE.from_config(config).get_config(), config)

    def test_training_vs_inference(self):
        layer = MMoE(2, [64], 1, dropout_rate=0.5)
        x = np.abs(self.x)
        self.assertAllClose(layer(x), layer(x, training=False))
        self.assertNotAllClose(layer(x, training=True), layer(x, training=False))

    def test_batch_of_one(self):
        outputs = MMoE(2, [4], 2, expert_activation="dice")(self.x[:1], training=True)
        self.assertEqual([o.shape for o in outputs], [(1, 4), (1, 4)])

    def test_functional_model_and_saved_model(self):
        x = tf_keras.Input((M,))
        g = tf_keras.Input((3,))
        ctr, cvr = MMoE(3, [8, 4], 2, gate_units=[4], expert_activation="prelu")((x, g))
        model = tf_keras.Model([x, g], [tf_keras.layers.Dense(1)(ctr), cvr])
        inputs = [self.x, self._random(B, 3)]
        expected = model(inputs)
        path = self.get_temp_dir() + "/mmoe_model"
        model.save(path, save_format="tf")
        loaded = tf_keras.models.load_model(path)
        for got, want in zip(loaded(inputs), expected):
            self.assertAllClose(got, want)


class ParallelMLPTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(
        ("shared_input_relu", False, "relu"),
        ("per_branch_input_prelu", True, "prelu"),
    )
    def test_equals_independent_mlps(self, per_branch, activation):
        rng = np.random.default_rng(5)
        n = 3
        x = rng.normal(size=(B, n, M) if per_branch else (B, M)).astype(np.float32)
        layer = ParallelMLP(n, [4, 2], activation=activation, output_activation="linear")
        layer(x)
        for w in layer.weights:
            w.assign(rng.normal(size=w.shape).astype(np.float32))
        got = layer(x)
        self.assertEqual(got.shape, (B, n, 2))
        for i in range(n):
            mlp = MLP([4, 2], activation=activation, output_activation="linear")
            xi = x[:, i] if per_branch else x
            mlp(xi)
            weights = [layer.kernels[0][i], layer.biases[0][i],
                       layer.kernels[1][i], layer.biases[1][i]]
            if activation == "prelu":  # MLP orders the alphas after the dense weights
                alphas = sorted((w for w in layer.weights if "alpha" in w.name),
                                key=lambda w: w.name)
                self.assertEqual([tuple(a.shape) for a in alphas], [(n, 4)])  # last layer linear
                weights += [a[i] for a in alphas]
            mlp.set_weights([np.asarray(w) for w in weights])
            self.assertAllClose(got[:, i], mlp(xi), rtol=1e-5, atol=1e-5)

    def test_bad_args_and_shapes(self):
        with self.assertRaisesRegex(ValueError, "`num_parallel` must be a positive integer"):
            ParallelMLP(0, [4])
        with self.assertRaisesRegex(ValueError, "must have n = num_parallel = 3"):
            ParallelMLP(3, [4]).build((None, 2, 5))

    def test_config_round_trip(self):
        layer = ParallelMLP(2, [3], activation="dice", dropout_rate=0.1, use_bias=False)
        config = layer.get_config()
        self.assertEqual(ParallelMLP.from_config(config).get_config(), config)


if __name__ == "__main__":
    tf.test.main()
