"""Wide: the linear (first-order) part of Wide & Deep and DeepFM."""

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package="easyrank")
class Wide(tf_keras.layers.Layer):
    """A linear model over one-dimensional feature embeddings.

    Math: docs/blocks.md#wide. Each field's one-dimensional embedding is its weight `w_i(x_i)` (a row of a
    `[vocabulary, 1]` table for an id, `x·w` for a number with embedding_dim 1):

        out = Σ_i w_i(x_i) + b                                  # [B, 1]

    This is the wide part of Wide & Deep (its cross-product features are id
    features of crossed values) and FM's first-order term in DeepFM. Placed
    beside a deep part, a task's final one-unit layer adds the two logits.

    References: Cheng et al., 2016, "Wide & Deep Learning for Recommender
    Systems" (https://arxiv.org/abs/1606.07792); Guo et al., 2017, DeepFM.

    Args:
        use_bias: add the learned bias b. Default True.
        **kwargs: base `Layer` arguments such as `name` and `dtype`.

    Input shape:
        `[batch_size, F, 1]` (F one-dimensional fields) or `[batch_size, F]`.

    Output shape:
        2D tensor `[batch_size, 1]`.

    Example:

        ```python
        Wide()(tf.random.normal([2, 5, 1]))  # [2, 1]
        ```
    """

    def __init__(self, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(use_bias, bool):
            raise ValueError(f"`use_bias` must be a bool. Received: use_bias={use_bias!r}")
        self.use_bias = use_bias

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank not in (2, 3) or (shape.rank == 3 and shape[-1] != 1):
            raise ValueError(
                "Wide expects one-dimensional field embeddings [B, F, 1] or [B, F]: give "
                f"its features embedding_dim 1. Received: input_shape={shape}"
            )
        self.bias = (self.add_weight(name="bias", shape=[1], initializer="zeros")
                     if self.use_bias else None)
        super().build(input_shape)

    def call(self, inputs):
        flat = tf.reshape(inputs, [-1, inputs.shape[1]]) if inputs.shape.rank == 3 else inputs
        out = tf.reduce_sum(flat, axis=-1, keepdims=True)
        return out + self.bias if self.bias is not None else out

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([tf.TensorShape(input_shape)[0], 1])

    def get_config(self):
        config = super().get_config()
        config["use_bias"] = self.use_bias
        return config
