"""Bilinear: FiBiNET's bilinear interaction between pairs of feature fields.

The math is in docs/blocks.md#bilinear-fibinet (the companion of SENet).
"""

import numpy as np
import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    Initializer,
    Regularizer,
    check_one_of,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)

_BILINEAR_TYPES = ("field_all", "field_each", "field_interaction")


@tf_keras.utils.register_keras_serializable(package="easyrank")
class Bilinear(tf_keras.layers.Layer):
    """Bilinear interaction of every pair of fields, `p_ij = (v_i W) * v_j`.

    Math: docs/blocks.md#bilinear-fibinet. For `E` of shape `[B, F, D]` and
    each of the `P = F (F - 1) / 2` pairs `i < j`, taken in the order
    `(0, 1), (0, 2), ..., (0, F-1), (1, 2), ...` (that of
    `itertools.combinations`):

        p_ij = (v_i · W) * v_j          # [B, D], * element-wise

    where the `D x D` matrix `W` is, by `bilinear_type`:
    - "field_all": one `W` shared by all pairs (`D^2` parameters);
    - "field_each": one `W_i` per left field `i` (`(F - 1) D^2` parameters:
      the last field is never on the left, so it has none);
    - "field_interaction" (default): one `W_ij` per pair (`P D^2` parameters).

    The pairs are computed at once with `tf.gather` on precomputed pair indices
    and `einsum`; there is no loop over pairs in the graph.

    Reference:
        T. Huang, Z. Zhang, J. Zhang, "FiBiNET: Combining Feature Importance and
        Bilinear Feature Interaction for Click-Through Rate Prediction", RecSys
        2019, https://arxiv.org/abs/1905.09433 (section 3.4).

    Args:
        bilinear_type: "field_all", "field_each" or "field_interaction" (default).
        flatten: If True (default), return `[B, P * D]` (pair-major: the `D`
            values of pair 0, then of pair 1, ...); else `[B, P, D]`.
        kernel_initializer: Initializer of the `W` matrices.
        kernel_regularizer: Regularizer of the `W` matrices.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        3D tensor `[batch_size, F, D]` with known `F >= 2` and `D`.

    Output shape:
        `[batch_size, P * D]` if `flatten`, else `[batch_size, P, D]`, with
        `P = F (F - 1) / 2`.

    Example:

        ```python
        fields = tf_keras.Input(shape=(10, 16))  # 10 fields of width 16
        pairs = Bilinear(bilinear_type="field_each")(fields)  # [B, 45 * 16]
        logits = tf_keras.layers.Dense(1)(pairs)
        ```
    """

    def __init__(
        self,
        bilinear_type: str = "field_interaction",
        flatten: bool = True,
        kernel_initializer: Initializer = "glorot_uniform",
        kernel_regularizer: Regularizer = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.bilinear_type = check_one_of("bilinear_type", bilinear_type, _BILINEAR_TYPES)
        self.flatten = bool(flatten)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "Bilinear expects a 3D input [batch_size, F, D] with known F and D. "
                f"Received: input_shape={input_shape}"
            )
        num_fields, dim = int(input_shape[1]), int(input_shape[2])
        if num_fields < 2:
            raise ValueError(
                "Bilinear needs at least 2 fields to form a pair. Received: "
                f"input_shape={input_shape} (F={num_fields}). Feed it the stacked "
                "embeddings of 2 or more fields."
            )
        left, right = np.triu_indices(num_fields, k=1)  # row-major i < j
        # NumPy, not tensors: build() may run inside a graph that call() outlives.
        self._left, self._right = left.astype(np.int32), right.astype(np.int32)
        self._num_fields, self._dim = num_fields, dim
        num_kernels = {
            "field_all": None,
            "field_each": num_fields - 1,
            "field_interaction": len(left),
        }[self.bilinear_type]
        shape = (dim, dim) if num_kernels is None else (num_kernels, dim, dim)
        self.kernel = self.add_weight(
            name="kernel",
            shape=shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        super().build(input_shape)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        if self.bilinear_type == "field_all":
            projected = tf.einsum("bfd,de->bfe", inputs, self.kernel)
            left = tf.gather(projected, self._left, axis=1)
        elif self.bilinear_type == "field_each":
            projected = tf.einsum("bfd,fde->bfe", inputs[:, :-1, :], self.kernel)
            left = tf.gather(projected, self._left, axis=1)
        else:
            left = tf.gather(inputs, self._left, axis=1)
            left = tf.einsum("bpd,pde->bpe", left, self.kernel)
        pairs = left * tf.gather(inputs, self._right, axis=1)  # [B, P, D]
        if self.flatten:
            num_pairs = self._num_fields * (self._num_fields - 1) // 2
            pairs = tf.reshape(pairs, [-1, num_pairs * self._dim])
        return pairs

    def compute_output_shape(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        num_fields, dim = int(input_shape[1]), int(input_shape[2])
        num_pairs = num_fields * (num_fields - 1) // 2
        if self.flatten:
            return tf.TensorShape([input_shape[0], num_pairs * dim])
        return tf.TensorShape([input_shape[0], num_pairs, dim])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "bilinear_type": self.bilinear_type,
                "flatten": self.flatten,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
            }
        )
        return config
