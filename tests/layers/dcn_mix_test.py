"""Tests for easyrank.layers.dcn_mix (docs/blocks.md#dcn-mix)."""

import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras
from absl.testing import parameterized

from easyrank.layers.dcn_mix import DCNMix


def _numpy_dcn_mix(x0, layers, g):
    """Re-statement of docs/blocks.md#dcn-mix with explicit loops over layers and experts.

    `layers` holds one dict per cross layer with per-expert lists `u`, `v`, `c`
    (or None), `b`, and the gate matrix `w_g` of shape [K, M].
    """
    x = x0
    for p in layers:
        num_experts = len(p["u"])
        logits = x @ p["w_g"].T  # [B, K]
        gate = np.exp(logits - logits.max(axis=1, keepdims=True))
        gate /= gate.sum(axis=1, keepdims=True)
        out = np.zeros_like(x)
        for i in range(num_experts):
            h = g(x @ p["v"][i])  # V_i^T x_l, [B, R]
            if p["c"] is not None:
                h = g(h @ p["c"][i].T)  # C_i h
            expert = x0 * (h @ p["u"][i].T + p["b"][i])  # U_i h + b_i, U_i: [M, R]
            out += gate[:, i : i + 1] * expert
        x = out + x
    return x


def _set_random_weights(layer, rng):
    """Sets seeded random weights; returns them per layer for the NumPy model."""
    by_name = {}
    for w in layer.weights:
        value = rng.normal(scale=0.3, size=w.shape).astype(np.float32)
        w.assign(value)
        by_name[w.name.split("/")[-1].split(":")[0]] = value
    params = []
    for i in range(layer.num_layers):
        u = by_name[f"u_kernel_{i}"]  # [K, R, M]
        params.append(
            {
                "v": list(by_name[f"v_kernel_{i}"]),  # V_i: [M, R]
                "u": [u_i.T for u_i in u],  # U_i: [M, R]
                # stored [K, R_in, R_out]: h @ c_i, i.e. C_i = c_i^T.
                "c": (
                    [c_i.T for c_i in by_name[f"c_kernel_{i}"]]
                    if f"c_kernel_{i}" in by_name
                    else None
                ),
                "b": list(by_name[f"bias_{i}"]),
                "w_g": by_name[f"gate_kernel_{i}"].T,  # [K, M]
            }
        )
    return params


_VARIANTS = (
    dict(testcase_name="plain", use_low_rank_mixing=False, activation=None),
    dict(testcase_name="with_c", use_low_rank_mixing=True, activation=None),
    dict(testcase_name="with_c_tanh", use_low_rank_mixing=True, activation="tanh"),
    dict(testcase_name="tanh_no_c", use_low_rank_mixing=False, activation="tanh"),
)


class DCNMixTest(tf.test.TestCase, parameterized.TestCase):
    @parameterized.named_parameters(*_VARIANTS)
    def test_golden_output(self, use_low_rank_mixing, activation):
        rng = np.random.default_rng(0)
        x0 = rng.normal(size=(5, 8)).astype(np.float32)
        layer = DCNMix(
            num_layers=2,
            num_experts=3,
            projection_dim=2,
            use_low_rank_mixing=use_low_rank_mixing,
            activation=activation,
        )
        layer(x0)
        params = _set_random_weights(layer, rng)
        g = np.tanh if activation == "tanh" else (lambda t: t)
        expected = _numpy_dcn_mix(x0.astype(np.float64), params, g)
        self.assertAllClose(expected, layer(x0), rtol=1e-5, atol=1e-5)

    def test_one_expert_identity_is_low_rank_dcn_v2(self):
        # K=1: the gate is 1, so DCN-Mix is tfrs' low-rank Cross with the same U, V.
        rng = np.random.default_rng(1)
        x0 = rng.normal(size=(4, 6)).astype(np.float32)
        layer = DCNMix(num_layers=1, num_experts=1, projection_dim=2, bias_initializer="ones")
        cross = tfrs.layers.dcn.Cross(projection_dim=2, bias_initializer="ones")
        layer(x0)
        cross(x0)
        v, u = layer.v_kernels[0].numpy()[0], layer.u_kernels[0].numpy()[0]
        cross.set_weights([v, u, np.ones(6, np.float32)])
        self.assertAllClose(cross(x0), layer(x0), rtol=1e-5, atol=1e-6)

    @parameterized.named_parameters(
        dict(testcase_name="plain", use_low_rank_mixing=False),
        dict(testcase_name="with_c", use_low_rank_mixing=True),
    )
    def test_weights_and_parameter_count(self, use_low_rank_mixing):
        m, r, k, depth = 64, 16, 4, 3
        layer = DCNMix(
            num_layers=depth,
            num_experts=k,
            projection_dim=r,
            use_low_rank_mixing=use_low_rank_mixing,
        )
        layer(tf.zeros((2, m)))
        per_layer = 4 + (1 if use_low_rank_mixing else 0)  # V, U, b, W_g (+ C)
        self.assertLen(layer.trainable_weights, depth * per_layer)
        shapes = sorted({tuple(w.shape) for w in layer.weights})
        expected_shapes = {(k, m, r), (k, r, m), (k, m), (m, k)}
        if use_low_rank_mixing:
            expected_shapes.add((k, r, r))
        self.assertEqual(sorted(expected_shapes), shapes)
        per_expert_c = r * r if use_low_rank_mixing else 0
        formula = k * (2 * m * r + m) + k * per_expert_c + m * k
        self.assertEqual(depth * formula, layer.count_params())
        # 3 * (8192 + 256 + 256) = 26112 without C; 29184 with C.
        self.assertEqual(29184 if use_low_rank_mixing else 26112, layer.count_params())

    def test_weight_names_are_stable(self):
        # Checkpoints key on these names; renaming `low_rank` to `projection_dim`
        # (issue 12) must not change them.
        layer = DCNMix(num_layers=1, num_experts=2, projection_dim=2,
                       use_low_rank_mixing=True, name="cross")
        layer(tf.zeros((1, 4)))
        self.assertEqual(
            ["cross/v_kernel_0:0", "cross/c_kernel_0:0", "cross/u_kernel_0:0",
             "cross/bias_0:0", "cross/gate_kernel_0:0"],
            [w.name for w in layer.weights])

    @parameterized.named_parameters(
        # K * 2R > M: the mixture has more parameters than DCN-V2 (12480).
        dict(testcase_name="m64_more", m=64, r=16, k=4, expected_mix=26112),
        # K * 2R < M: fewer (the paper's regime); DCN-V2 has 197376.
        dict(testcase_name="m256_fewer", m=256, r=16, k=4, expected_mix=104448),
    )
    def test_parameter_count_against_dcn_v2(self, m, r, k, expected_mix):
        depth = 3
        layer = DCNMix(num_layers=depth, num_experts=k, projection_dim=r)
        layer(tf.zeros((2, m)))
        dcn_v2 = [tfrs.layers.dcn.Cross() for _ in range(depth)]
        for cross in dcn_v2:
            cross(tf.zeros((2, m)))
        dcn_v2_params = sum(c.count_params() for c in dcn_v2)
        self.assertEqual(depth * (m * m + m), dcn_v2_params)
        self.assertEqual(expected_mix, layer.count_params())
        self.assertEqual(2 * k * r < m, layer.count_params() < dcn_v2_params)

    @parameterized.named_parameters(
        dict(testcase_name="num_layers", kwargs={"num_layers": 0}, match="num_layers=0"),
        dict(testcase_name="num_experts", kwargs={"num_experts": 0}, match="num_experts=0"),
        dict(testcase_name="projection_dim", kwargs={"projection_dim": -2}, match="projection_dim=-2"),
        dict(testcase_name="float", kwargs={"projection_dim": 2.5}, match="projection_dim=2.5"),
    )
    def test_bad_arguments(self, kwargs, match):
        with self.assertRaisesRegex(ValueError, f"must be a positive integer.*{match}"):
            DCNMix(**kwargs)

    def test_bad_input_rank(self):
        with self.assertRaisesRegex(ValueError, "expects a 2D input"):
            DCNMix()(tf.zeros((2, 3, 4)))

    def test_config_round_trip(self):
        layer = DCNMix(
            num_layers=2,
            num_experts=3,
            projection_dim=4,
            use_low_rank_mixing=True,
            activation="tanh",
            kernel_regularizer="l2",
        )
        x = np.random.default_rng(2).normal(size=(3, 10)).astype(np.float32)
        y = layer(x)
        config = layer.get_config()
        restored = DCNMix.from_config(config)
        self.assertEqual(config, restored.get_config())
        restored(x)
        restored.set_weights(layer.get_weights())
        self.assertAllClose(y, restored(x))
        # Through the registry, as a saved model config would be read.
        serialized = tf_keras.layers.serialize(layer)
        self.assertEqual("easyrank>DCNMix", serialized["registered_name"])
        self.assertIsInstance(tf_keras.layers.deserialize(serialized), DCNMix)

    def test_functional_model_trains_and_saves(self):
        inputs = tf_keras.Input(shape=(12,))
        outputs = tf_keras.layers.Dense(1)(
            DCNMix(num_layers=2, num_experts=2, projection_dim=3, activation="relu")(inputs)
        )
        model = tf_keras.Model(inputs, outputs)
        rng = np.random.default_rng(3)
        x = rng.normal(size=(16, 12)).astype(np.float32)
        y = rng.normal(size=(16, 1)).astype(np.float32)
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        expected = model(x)

        path = os.path.join(self.get_temp_dir(), "dcn_mix_model")
        model.save(path, save_format="tf")
        loaded = tf.saved_model.load(path)
        self.assertAllClose(expected, loaded(x), rtol=1e-5, atol=1e-5)
        reloaded = tf_keras.models.load_model(path)
        self.assertAllClose(expected, reloaded(x), rtol=1e-5, atol=1e-5)

    def test_batch_of_one_and_dtype(self):
        layer = DCNMix(num_layers=1, num_experts=2, projection_dim=1)
        y = layer(tf.ones((1, 3)))
        self.assertEqual((1, 3), tuple(y.shape))
        self.assertEqual(tf.float32, y.dtype)

    def test_gradients_reach_every_weight(self):
        layer = DCNMix(num_layers=2, num_experts=2, projection_dim=2, use_low_rank_mixing=True)
        x = tf.random.stateless_normal((4, 5), seed=(1, 2))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) ** 2)
        grads = tape.gradient(loss, layer.trainable_weights)
        self.assertTrue(all(g is not None for g in grads))

    def test_regularizer_losses(self):
        layer = DCNMix(num_layers=2, num_experts=2, projection_dim=2, kernel_regularizer="l2")
        layer(tf.ones((2, 4)))
        # V, U and the gate per layer.
        self.assertLen(layer.losses, 2 * 3)


if __name__ == "__main__":
    tf.test.main()
