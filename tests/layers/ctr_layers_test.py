"""Tests for easyrank.layers.fm, wide and dot_interaction (DeepFM, Wide & Deep, DLRM)."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import itertools

import numpy as np
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers.dot_interaction import DotInteraction
from easyrank.layers.fm import FM
from easyrank.layers.wide import Wide

B, F, D = 4, 5, 3


def _np_fm(v, reduce_sum):
    """Σ_{i<j} v_i ⊙ v_j by explicit pairs (not Rendle's identity the layer uses)."""
    pairs = sum(v[:, i] * v[:, j] for i, j in itertools.combinations(range(v.shape[1]), 2))
    return pairs.sum(-1, keepdims=True) if reduce_sum else pairs


def _np_dot(vectors, self_interaction):
    """[<x_i, x_j> for i > j (or i >= j)] in row-major lower-triangle order."""
    x = np.stack(vectors, axis=1)
    f = x.shape[1]
    return np.stack([np.einsum("bd,bd->b", x[:, i], x[:, j]) for i in range(f)
                     for j in range(i + (1 if self_interaction else 0))], axis=1)


def _save_load(test, layer, inputs):
    """Output of `layer` in a functional model, and of that model after a SavedModel round trip."""
    tensors = inputs if isinstance(inputs, list) else [inputs]
    keras_inputs = [tf_keras.Input(x.shape[1:]) for x in tensors]
    out = layer(keras_inputs if isinstance(inputs, list) else keras_inputs[0])
    model = tf_keras.Model(keras_inputs, out)
    expected = model(tensors)
    path = test.get_temp_dir() + f"/{layer.name}"
    model.save(path, save_format="tf")
    test.assertAllClose(tf_keras.models.load_model(path)(tensors), expected)
    return expected


class FMTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.v = np.random.default_rng(3).normal(size=(B, F, D)).astype(np.float32)

    @parameterized.named_parameters(("summed", True), ("per_dim", False))
    def test_golden(self, reduce_sum):
        out = FM(reduce_sum=reduce_sum)(self.v)
        self.assertAllClose(out, _np_fm(self.v, reduce_sum), rtol=1e-5, atol=1e-5)
        self.assertEqual(out.shape, (B, 1 if reduce_sum else D))

    def test_one_field_and_batch_of_one(self):
        self.assertAllEqual(FM()(self.v[:, :1]), np.zeros((B, 1)))  # no pairs
        self.assertAllClose(FM()(self.v[:1]), _np_fm(self.v[:1], True), atol=1e-5)

    def test_no_weights_bad_args_and_config(self):
        layer = FM(reduce_sum=False, name="fm")
        layer(self.v)
        self.assertEqual(layer.weights, [])
        self.assertEqual(FM.from_config(layer.get_config()).get_config(), layer.get_config())
        with self.assertRaisesRegex(ValueError, "Received: reduce_sum=1"):
            FM(reduce_sum=1)
        with self.assertRaisesRegex(ValueError, r"FM expects stacked field embeddings \[B, F, D\]"):
            FM()(self.v.reshape(B, F * D))

    def test_saved_model(self):
        self.assertAllClose(_save_load(self, FM(name="fm"), self.v), _np_fm(self.v, True), atol=1e-5)


class WideTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.w = np.random.default_rng(4).normal(size=(B, F, 1)).astype(np.float32)

    @parameterized.named_parameters(("stacked", (B, F, 1)), ("flat", (B, F)))
    def test_golden(self, shape):
        layer = Wide(name="wide")
        layer(self.w.reshape(shape))
        layer.bias.assign([0.25])
        self.assertAllClose(layer(self.w.reshape(shape)), self.w.sum(axis=(1, 2))[:, None] + 0.25)

    def test_without_bias_weights_and_config(self):
        layer = Wide(use_bias=False)
        self.assertAllClose(layer(self.w), self.w.sum(axis=(1, 2))[:, None])
        self.assertEqual(layer.weights, [])
        self.assertEqual(Wide.from_config(layer.get_config()).get_config(), layer.get_config())

    def test_rejects_wider_embeddings(self):
        with self.assertRaisesRegex(ValueError, "give its features embedding_dim 1"):
            Wide()(np.zeros((B, F, 2), np.float32))

    def test_saved_model(self):
        _save_load(self, Wide(name="wide"), self.w)


class DotInteractionTest(tf.test.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(5)
        self.dense = rng.normal(size=(B, D)).astype(np.float32)
        self.sparse = rng.normal(size=(B, F, D)).astype(np.float32)

    @parameterized.named_parameters(("pairs", False), ("with_self", True))
    def test_golden_on_a_list_of_vectors_and_stacks(self, self_interaction):
        out = DotInteraction(self_interaction=self_interaction)([self.dense, self.sparse])
        vectors = [self.dense] + [self.sparse[:, i] for i in range(F)]
        self.assertAllClose(out, _np_dot(vectors, self_interaction), rtol=1e-5, atol=1e-5)
        n = F + 1
        self.assertEqual(out.shape, (B, n * (n + 1) // 2 if self_interaction else n * (n - 1) // 2))

    def test_one_stacked_input(self):
        vectors = [self.sparse[:, i] for i in range(F)]
        self.assertAllClose(DotInteraction()(self.sparse), _np_dot(vectors, False), atol=1e-5)

    def test_bad_inputs_and_args(self):
        with self.assertRaisesRegex(ValueError, "of one width D"):
            DotInteraction()([self.dense, np.zeros((B, F, D + 1), np.float32)])
        with self.assertRaisesRegex(ValueError, "at least 2 vectors"):
            DotInteraction()([self.dense])
        with self.assertRaisesRegex(ValueError, "Received: self_interaction='yes'"):
            DotInteraction(self_interaction="yes")

    def test_config_and_saved_model(self):
        layer = DotInteraction(self_interaction=True, name="dot")
        self.assertEqual(DotInteraction.from_config(layer.get_config()).get_config(),
                         layer.get_config())
        _save_load(self, layer, [self.dense, self.sparse])


if __name__ == "__main__":
    tf.test.main()
