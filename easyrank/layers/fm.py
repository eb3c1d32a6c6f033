"""FM: the second-order interactions of a factorization machine."""

import tensorflow as tf
import tf_keras


@tf_keras.utils.register_keras_serializable(package="easyrank")
class FM(tf_keras.layers.Layer):
    """Pairwise interactions of field embeddings, FM's second-order term.

    Math: docs/blocks.md#fm. For stacked field embeddings `v ∈ [B, F, D]` (Rendle's identity, O(F·D)):

        Σ_{i<j} v_i ⊙ v_j = 0.5 · ((Σ_i v_i)² − Σ_i v_i²)     # [B, D]
        out = Σ_d of that                                     # reduce_sum=True: [B, 1]

    With `reduce_sum=True` the output is FM's interaction term Σ_{i<j} <v_i, v_j>;
    with False it keeps one value per dimension (the "bi-interaction" pooling of
    NFM), for a following layer to weight. DeepFM is this block (the FM part, with
    a `Wide` block for the first-order part) beside an MLP on the same embeddings.
    The layer has no weights: the embeddings are FM's factors.

    References: Rendle, 2010, "Factorization Machines"; Guo et al., 2017,
    "DeepFM: A Factorization-Machine based Neural Network for CTR Prediction"
    (https://arxiv.org/abs/1703.04247).

    Args:
        reduce_sum: sum the interactions over D (True, default) or keep them per
            dimension.
        **kwargs: base `Layer` arguments such as `name` and `dtype`.

    Input shape:
        3D tensor `[batch_size, F, D]`, F fields of one width D.

    Output shape:
        `[batch_size, 1]` (reduce_sum) or `[batch_size, D]`.

    Example:

        ```python
        FM()(tf.random.normal([2, 5, 8]))  # [2, 1]
        ```
    """

    def __init__(self, reduce_sum: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(reduce_sum, bool):
            raise ValueError(f"`reduce_sum` must be a bool. Received: reduce_sum={reduce_sum!r}")
        self.reduce_sum = reduce_sum

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 3:
            raise ValueError(
                "FM expects stacked field embeddings [B, F, D] (fields of one width). "
                f"Received: input_shape={shape}"
            )
        super().build(input_shape)

    def call(self, inputs):
        square_of_sum = tf.square(tf.reduce_sum(inputs, axis=1))
        sum_of_squares = tf.reduce_sum(tf.square(inputs), axis=1)
        out = 0.5 * (square_of_sum - sum_of_squares)
        return tf.reduce_sum(out, axis=-1, keepdims=True) if self.reduce_sum else out

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        return tf.TensorShape([shape[0], 1 if self.reduce_sum else shape[2]])

    def get_config(self):
        config = super().get_config()
        config["reduce_sum"] = self.reduce_sum
        return config
