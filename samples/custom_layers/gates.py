"""An example user layer for a custom block (docs/custom_layers.md).

Import it with `--import_modules samples.custom_layers.gates` (from the
repository root) or `import_modules: "samples.custom_layers.gates"` in the
pipeline config; a block then names it `custom { class_name: "my_layers>GatedDense" }`.
"""

import tensorflow as tf
import tf_keras


@tf_keras.saving.register_keras_serializable(package="my_layers")
class GatedDense(tf_keras.layers.Layer):
    """A gated linear unit: out = (x W + b) * sigmoid(x V + c), [B, units].

    Args:
        units: output width.
        activation: activation of the linear branch (a tf_keras name), or None.
    """

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        self.units = units
        self.activation = tf_keras.activations.get(activation)
        self.linear = tf_keras.layers.Dense(units, activation=self.activation, name="linear")
        self.gate = tf_keras.layers.Dense(units, activation="sigmoid", name="gate")

    def call(self, inputs):
        return self.linear(inputs) * self.gate(inputs)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=tf_keras.activations.serialize(self.activation))
        return config
