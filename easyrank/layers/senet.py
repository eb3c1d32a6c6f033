"""SENet: squeeze-and-excitation re-weighting of feature fields.

The math is in docs/blocks.md#senet.
"""

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    Initializer,
    Regularizer,
    check_one_of,
    check_positive_int,
    clone_initializer,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)

_SQUEEZE = {"mean": tf.reduce_mean, "max": tf.reduce_max}
_WEIGHT_AXES = ("field", "embedding")


@tf_keras.utils.register_keras_serializable(package="easyrank")
class SENet(tf_keras.layers.Layer):
    """Squeeze-and-excitation over the fields of a stacked embedding.

    Math: docs/blocks.md#senet. With `weight_axis="field"` (default), for `E` of
    shape `[B, F, D]`:

        z   = squeeze(E)                  # [B, F]: mean (or max) over D
        A   = sigmoid(W_2 ReLU(W_1 z))    # W_1: F -> max(1, F // r), W_2: -> F
        out = E * A[:, :, None]           # [B, F, D]

    With `weight_axis="embedding"` the roles of the axes swap: squeeze over `F`,
    excite over `D` (`W_1: D -> max(1, D // r)`), and `out = E * A[:, None, :]`.
    The layer re-weights and never pools: the output has the input's shape.

    `W_1` and `W_2` have no bias, as in FiBiNET's reference implementation
    (DeepCTR's `SENETLayer`).

    Reference:
        J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018,
        https://arxiv.org/abs/1709.01507; as used in T. Huang, Z. Zhang,
        J. Zhang, "FiBiNET: Combining Feature Importance and Bilinear Feature
        Interaction for Click-Through Rate Prediction", RecSys 2019,
        https://arxiv.org/abs/1905.09433.

    Args:
        reduction_ratio: The reduction ratio `r`, a positive integer. Default 3.
        squeeze: How to squeeze: "mean" (default) or "max".
        weight_axis: Which axis is weighted: "field" (default, weights
            `[B, F, 1]`) or "embedding" (weights `[B, 1, D]`).
        kernel_initializer: Initializer of `W_1` and `W_2`.
        kernel_regularizer: Regularizer of `W_1` and `W_2`.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        3D tensor `[batch_size, F, D]` with known `F` and `D`.

    Output shape:
        3D tensor `[batch_size, F, D]`.

    Example:

        ```python
        fields = tf_keras.Input(shape=(10, 16))  # 10 fields of width 16
        weighted = SENet(reduction_ratio=3)(fields)  # [B, 10, 16]
        flat = tf_keras.layers.Flatten()(weighted)
        ```
    """

    def __init__(
        self,
        reduction_ratio: int = 3,
        squeeze: str = "mean",
        weight_axis: str = "field",
        kernel_initializer: Initializer = "glorot_uniform",
        kernel_regularizer: Regularizer = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.reduction_ratio = check_positive_int("reduction_ratio", reduction_ratio)
        self.squeeze = check_one_of("squeeze", squeeze, sorted(_SQUEEZE))
        self.weight_axis = check_one_of("weight_axis", weight_axis, _WEIGHT_AXES)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "SENet expects a 3D input [batch_size, F, D] with known F and D. "
                f"Received: input_shape={input_shape}"
            )
        # The excited axis: fields (1) or embedding dimensions (2).
        size = int(input_shape[1] if self.weight_axis == "field" else input_shape[2])
        reduced = max(1, size // self.reduction_ratio)
        self.kernel_1 = self.add_weight(
            name="kernel_1",
            shape=(size, reduced),
            initializer=clone_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        self.kernel_2 = self.add_weight(
            name="kernel_2",
            shape=(reduced, size),
            initializer=clone_initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        field = self.weight_axis == "field"
        z = _SQUEEZE[self.squeeze](inputs, axis=2 if field else 1)
        a = tf.sigmoid(tf.matmul(tf.nn.relu(tf.matmul(z, self.kernel_1)), self.kernel_2))
        return inputs * (a[:, :, None] if field else a[:, None, :])

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "reduction_ratio": self.reduction_ratio,
                "squeeze": self.squeeze,
                "weight_axis": self.weight_axis,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
            }
        )
        return config

