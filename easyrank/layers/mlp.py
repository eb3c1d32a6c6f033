"""MLP: the stack of dense layers that most blocks are made of.

The math is in docs/blocks.md#mlp.
"""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    check_activation,
    check_rate,
    check_units,
    clone_initializer,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)
from easyrank.layers.dice import Dice


def make_activation(
    activation: str, rank: int, num_feature_axes: int = 1, name: str | None = None
) -> tf_keras.layers.Layer:
    """Returns a layer applying `activation` to tensors of rank `rank`.

    The last `num_feature_axes` axes are the feature axes: learned activations
    ("prelu", "dice") get one parameter per feature position and share it over the
    other axes (e.g. over the time axis of a `[B, T, units]` tensor).
    """
    feature_axes = list(range(rank - num_feature_axes, rank))
    if activation == "prelu":
        shared_axes = list(range(1, rank - num_feature_axes)) or None
        return tf_keras.layers.PReLU(shared_axes=shared_axes, name=name)
    if activation == "dice":
        return Dice(axis=feature_axes, name=name)
    return tf_keras.layers.Activation(activation, name=name)


def build_sublayer(layer: tf_keras.layers.Layer, input_shape) -> None:
    """Builds `layer` under its own name scope, so weight names are unique."""
    with tf.name_scope(layer.name):
        layer.build(input_shape)


@tf_keras.utils.register_keras_serializable(package="easyrank")
class MLP(tf_keras.layers.Layer):
    """A multi-layer perceptron, the stack of dense layers most blocks are made of.

    Math: docs/blocks.md#mlp. Each layer `l` computes, in this order,

        h_l = Dropout(act_l(Norm(W_l · h_{l-1} + b_l)))

    where `Norm` is batch normalisation, layer normalisation or nothing, and
    `act_l` is `activation`, except for the last layer which uses
    `output_activation` when it is set. Dropout follows every layer (including
    the last) and, as batch normalisation and Dice, is active only when
    `training`. Used by the backbone `mlp` block, task towers, the DIN attention
    network, the POSO gates and the MaskNet head.

    Args:
        hidden_units: Non-empty list of positive ints, the width of each layer.
        activation: Hidden-layer activation: any `tf_keras.activations` name, or
            "prelu" (learned slope per unit) or "dice" (see `Dice`). Default
            "relu".
        dropout_rate: Float in [0, 1), dropout after each layer. Default 0.
        use_batch_norm: Apply batch normalisation before each activation.
        use_layer_norm: Apply layer normalisation before each activation. At
            most one of `use_batch_norm` and `use_layer_norm` may be set.
        use_bias: Whether the dense layers have a bias. Default True.
        kernel_initializer: Initializer of the dense kernels (name, config dict
            or instance). Default "glorot_uniform".
        kernel_regularizer: Regularizer of the dense kernels, or None.
        output_activation: Activation of the last layer. None (default) uses
            `activation`; "linear" makes the last layer linear.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        Tensor `[batch_size, ..., M]` of rank >= 2; the dense layers act on the
        last axis.

    Output shape:
        Tensor `[batch_size, ..., hidden_units[-1]]`.

    Example:

        ```python
        mlp = MLP(hidden_units=[256, 128], activation="relu", dropout_rate=0.1)
        y = mlp(tf.random.normal([32, 64]), training=True)  # [32, 128]
        ```
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        activation: str = "relu",
        dropout_rate: float = 0.0,
        use_batch_norm: bool = False,
        use_layer_norm: bool = False,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        output_activation: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_units = check_units("hidden_units", hidden_units)
        self.activation = check_activation("activation", activation)
        if output_activation is not None:
            check_activation("output_activation", output_activation)
        self.output_activation = output_activation
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        if use_batch_norm and use_layer_norm:
            raise ValueError(
                "At most one of `use_batch_norm` and `use_layer_norm` may be True. "
                f"Received: use_batch_norm={use_batch_norm}, "
                f"use_layer_norm={use_layer_norm}"
            )
        self.use_batch_norm = bool(use_batch_norm)
        self.use_layer_norm = bool(use_layer_norm)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)

        self._dense_layers = [
            tf_keras.layers.Dense(
                units,
                use_bias=self.use_bias,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                kernel_regularizer=self.kernel_regularizer,
                name=f"dense_{i}",
            )
            for i, units in enumerate(self.hidden_units)
        ]
        self._norm_layers = []
        for i in range(len(self.hidden_units)):
            if self.use_batch_norm:
                self._norm_layers.append(
                    tf_keras.layers.BatchNormalization(name=f"batch_norm_{i}")
                )
            elif self.use_layer_norm:
                self._norm_layers.append(
                    tf_keras.layers.LayerNormalization(name=f"layer_norm_{i}")
                )
        self._dropout_layers = [
            tf_keras.layers.Dropout(self.dropout_rate, name=f"dropout_{i}")
            for i in range(len(self.hidden_units))
            if self.dropout_rate > 0
        ]
        self._activation_layers = []

    def _layer_activation(self, i: int) -> str:
        if i == len(self.hidden_units) - 1 and self.output_activation is not None:
            return self.output_activation
        return self.activation

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape).as_list()
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                f"MLP expects inputs of rank >= 2. Received: input_shape={input_shape}"
            )
        self._activation_layers = [
            make_activation(self._layer_activation(i), rank, name=f"activation_{i}")
            for i in range(len(self.hidden_units))
        ]
        shape = list(input_shape)
        for i, units in enumerate(self.hidden_units):
            build_sublayer(self._dense_layers[i], shape)
            shape = shape[:-1] + [units]
            if self._norm_layers:
                build_sublayer(self._norm_layers[i], shape)
            build_sublayer(self._activation_layers[i], shape)
        super().build(input_shape)

    @property
    def dense_layers(self) -> list:
        """The `Dense` layers, in order (read-only use: a caller computing layer 0 itself)."""
        return list(self._dense_layers)

    def call(self, inputs, training=None):
        return self.call_from(self._dense_layers[0](inputs), 0, training=training)

    def call_from(self, x, start: int, training=None):
        """The MLP from layer `start`'s normalization on, `x` being that layer's Dense output.

        For a caller that computes the first Dense layer in a cheaper, equal form (DIN).
        """
        for i in range(start, len(self._dense_layers)):
            if i > start:
                x = self._dense_layers[i](x)
            if self._norm_layers:
                x = self._norm_layers[i](x, training=training)
            x = self._activation_layers[i](x, training=training)
            if self._dropout_layers:
                x = self._dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.hidden_units[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": self.activation,
                "dropout_rate": self.dropout_rate,
                "use_batch_norm": self.use_batch_norm,
                "use_layer_norm": self.use_layer_norm,
                "use_bias": self.use_bias,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
                "output_activation": self.output_activation,
            }
        )
        return config
