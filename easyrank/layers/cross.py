"""Cross: the DCN-V2 cross network, a stack of `tfrs.layers.dcn.Cross` layers.

The math is in docs/blocks.md#dcn-v2-cross. The cross layer itself is
tensorflow-recommenders'; this module only stacks it.
"""

from typing import Any

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

from easyrank.layers.checks import (
    Initializer,
    Regularizer,
    check_non_negative_number,
    check_positive_int,
    clone_initializer,
    get_activation,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)


@tf_keras.utils.register_keras_serializable(package="easyrank")
class Cross(tf_keras.layers.Layer):
    """DCN-V2 cross network: `num_layers` stacked `tfrs.layers.dcn.Cross` layers.

    Math: docs/blocks.md#dcn-v2-cross. Layer `l` computes, with `x_0` the input,

        x_{l+1} = x_0 * (W_l x_l + b_l + diag_scale * x_l) + x_l

    where `W_l` is a full `M x M` matrix, or the low-rank product `U_l V_l` of
    rank `projection_dim` (`M x R` and `R x M`). Each layer has its own weights.
    Parameters per layer: `M^2 + M` at full rank, `2*M*R + M` at low rank
    (without the bias: minus `M`).

    Reference:
        R. Wang et al., "DCN V2: Improved Deep & Cross Network and Practical
        Lessons for Web-scale Learning to Rank Systems", WWW 2021,
        https://arxiv.org/abs/2008.13535 (Eq. 1 full rank, Eq. 2 low rank).

    Args:
        num_layers: Number of cross layers, a positive integer.
        projection_dim: Rank `R` of the low-rank kernel; `None` (default) for a
            full-rank `M x M` kernel.
        diag_scale: Non-negative float added to the kernel's diagonal.
        use_bias: Whether each cross layer has the bias `b_l`.
        preactivation: Activation applied to `W_l x_l + b_l` before the product
            with `x_0`; `None` for none.
        kernel_initializer: Initializer for the kernels.
        bias_initializer: Initializer for the biases.
        kernel_regularizer: Regularizer for the kernels.
        bias_regularizer: Regularizer for the biases.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        2D tensor `[batch_size, M]`: `x_0`.

    Output shape:
        2D tensor `[batch_size, M]`: `x_{num_layers}`.

    Example:

        ```python
        x0 = tf_keras.Input(shape=(64,))
        x = Cross(num_layers=3, projection_dim=16)(x0)
        logits = tf_keras.layers.Dense(1)(x)
        ```
    """

    def __init__(
        self,
        num_layers: int = 1,
        projection_dim: int | None = None,
        diag_scale: float = 0.0,
        use_bias: bool = True,
        preactivation: Any | None = None,
        kernel_initializer: Initializer = "truncated_normal",
        bias_initializer: Initializer = "zeros",
        kernel_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.projection_dim = check_positive_int(
            "projection_dim", projection_dim, allow_none=True
        )
        self.diag_scale = check_non_negative_number("diag_scale", diag_scale)
        self.use_bias = bool(use_bias)
        self.preactivation = get_activation("preactivation", preactivation)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = get_initializer("bias_initializer", bias_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = get_regularizer("bias_regularizer", bias_regularizer)
        # Created here, not in build(): build() may run inside an autograph-converted
        # call (e.g. a backbone block), where tfrs Cross's __init__ fails.
        self.cross_layers = [
            tfrs.layers.dcn.Cross(
                projection_dim=self.projection_dim,
                diag_scale=self.diag_scale,
                use_bias=self.use_bias,
                preactivation=self.preactivation,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer=clone_initializer(self.bias_initializer),
                kernel_regularizer=self.kernel_regularizer,
                bias_regularizer=self.bias_regularizer,
                dtype=self.dtype_policy,
                name=f"cross_{i}",
            )
            for i in range(self.num_layers)
        ]

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 2 or input_shape[-1] is None:
            raise ValueError(
                "Cross expects a 2D input [batch_size, M] with a known M. "
                f"Received: input_shape={input_shape}"
            )
        for layer in self.cross_layers:
            layer.build(input_shape)
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x = inputs
        for layer in self.cross_layers:
            x = layer(inputs, x)
        return x

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "projection_dim": self.projection_dim,
                "diag_scale": self.diag_scale,
                "use_bias": self.use_bias,
                "preactivation": (
                    None
                    if self.preactivation is None
                    else tf_keras.activations.serialize(self.preactivation)
                ),
                **serialize_weight_args(self, "kernel_initializer", "bias_initializer",
                                        "kernel_regularizer", "bias_regularizer"),
            }
        )
        return config

