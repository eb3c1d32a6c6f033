"""Tests for easyrank.layers.checks, the argument checks shared by the layers."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import tensorflow as tf
import tf_keras
from absl.testing import parameterized

from easyrank.layers import checks
from easyrank.layers.mask_net import MaskBlock


class ChecksTest(tf.test.TestCase, parameterized.TestCase):

    def test_accepted_values_come_back_canonical(self):
        self.assertEqual(checks.check_positive_int("n", 3), 3)
        self.assertIsNone(checks.check_positive_int("n", None, allow_none=True))
        self.assertEqual(checks.check_positive_number("c", 2), 2.0)
        self.assertIsInstance(checks.check_positive_number("c", 2), float)
        self.assertEqual(checks.check_non_negative_number("d", 0), 0.0)
        self.assertEqual(checks.check_rate("p", 0), 0.0)
        self.assertEqual(checks.check_units("u", (4, 2)), [4, 2])
        self.assertEqual(checks.check_units("u", [], allow_empty=True), [])
        self.assertEqual(checks.check_one_of("s", "max", ("mean", "max")), "max")
        self.assertEqual(checks.check_activation("a", "dice"), "dice")
        self.assertEqual(checks.check_activation("a", "tanh", allow_layers=False), "tanh")
        self.assertIsNone(checks.get_activation("a", None))
        self.assertIs(checks.get_activation("a", "relu"), tf_keras.activations.relu)
        self.assertIsInstance(checks.get_initializer("i", "zeros"), tf_keras.initializers.Zeros)
        self.assertIsNone(checks.get_regularizer("r", None))
        self.assertIsInstance(checks.get_regularizer("r", "l2"), tf_keras.regularizers.L2)

    @parameterized.named_parameters(
        ("int_zero", checks.check_positive_int, 0, "a positive integer. Received: x=0"),
        ("int_bool", checks.check_positive_int, True, "a positive integer. Received: x=True"),
        ("int_float", checks.check_positive_int, 2.0, "a positive integer. Received: x=2.0"),
        ("int_none", checks.check_positive_int, None, "a positive integer. Received: x=None"),
        ("number_zero", checks.check_positive_number, 0, "a positive number. Received: x=0"),
        ("number_str", checks.check_positive_number, "1", "a positive number. Received: x='1'"),
        ("non_negative", checks.check_non_negative_number, -0.5,
         "a non-negative number. Received: x=-0.5"),
        ("rate_one", checks.check_rate, 1.0, r"a float in \[0, 1\). Received: x=1.0"),
        ("rate_negative", checks.check_rate, -0.1, r"a float in \[0, 1\). Received: x=-0.1"),
        ("units_empty", checks.check_units, [], r"a non-empty list of positive integers. "
         r"Received: x=\[\]"),
        ("units_zero", checks.check_units, [3, 0], r"a non-empty list of positive integers. "
         r"Received: x=\[3, 0\]"),
        ("units_str", checks.check_units, "64", "a non-empty list of positive integers. "
         "Received: x='64'"),
        ("activation", checks.check_activation, "relu6x",
         "the name of a tf_keras activation, 'prelu' or 'dice'. Received: x='relu6x'"),
        ("activation_not_str", checks.check_activation, None,
         "the name of a tf_keras activation, 'prelu' or 'dice'. Received: x=None"),
        ("get_activation", checks.get_activation, "nope",
         "a tf_keras activation .*Received: x='nope'"),
        ("initializer", checks.get_initializer, "nope",
         "a tf_keras initializer .*Received: x='nope'"),
        ("regularizer", checks.get_regularizer, "nope",
         "a tf_keras regularizer .*Received: x='nope'"),
    )
    def test_rejects_with_the_argument_name(self, check, value, message):
        with self.assertRaisesRegex(ValueError, "^`x` must be " + message + "$"):
            check("x", value)

    def test_one_of_lists_the_choices(self):
        with self.assertRaisesRegex(
            ValueError, r"^`pooling` must be one of \['sum', 'max'\]. Received: pooling='min'$"
        ):
            checks.check_one_of("pooling", "min", ("sum", "max"))

    def test_layer_activations_can_be_refused(self):
        with self.assertRaisesRegex(
            ValueError, r"`a` must be the name of a tf_keras activation. Received: a='dice'"
        ):
            checks.check_activation("a", "dice", allow_layers=False)
        # MaskBlock applies its activation as a function, so "dice" is refused
        # when the layer is made, not when it is built.
        with self.assertRaisesRegex(ValueError, "Received: activation='prelu'"):
            MaskBlock(output_size=4, aggregation_size=4, activation="prelu")

    def test_clone_initializer_gives_a_new_instance_with_the_same_config(self):
        initializer = tf_keras.initializers.GlorotUniform(seed=3)
        clone = checks.clone_initializer(initializer)
        self.assertIsNot(clone, initializer)
        self.assertEqual(clone.get_config(), initializer.get_config())


if __name__ == "__main__":
    tf.test.main()
