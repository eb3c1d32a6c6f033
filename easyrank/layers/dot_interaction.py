"""DotInteraction: DLRM's pairwise dot products of feature vectors."""

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras


@tf_keras.utils.register_keras_serializable(package="easyrank")
class DotInteraction(tf_keras.layers.Layer):
    """All pairwise dot products of F feature vectors of one width D.

    Math: docs/blocks.md#dot-interaction-dlrm. With the vectors stacked as
    `X ∈ [B, F, D]` (the bottom MLP's output and the
    sparse features' embeddings, in DLRM):

        Z   = X Xᵀ                                  # [B, F, F]
        out = [Z_ij for i > j] (or i >= j)          # [B, F(F−1)/2] or [B, F(F+1)/2]

    The products come from `tfrs.layers.feature_interaction.DotInteraction`;
    this layer only accepts the inputs the backbone hands over (a list of
    `[B, D]` vectors and `[B, F_k, D]` stacks) and records its config. In DLRM the
    output is concatenated with the bottom MLP's output and fed to the top MLP.

    Reference: Naumov et al., 2019, "Deep Learning Recommendation Model for
    Personalization and Recommendation Systems" (https://arxiv.org/abs/1906.00091).

    Args:
        self_interaction: also keep the squared norms Z_ii. Default False.
        **kwargs: base `Layer` arguments such as `name` and `dtype`.

    Input shape:
        `[batch_size, F, D]`, or a list of `[batch_size, D]` and
        `[batch_size, F_k, D]` tensors of one width D (F = the number of
        vectors in all, at least 2).

    Output shape:
        `[batch_size, F(F−1)/2]`, or `[batch_size, F(F+1)/2]` with
        self-interaction.

    Example:

        ```python
        DotInteraction()([tf.random.normal([2, 8]), tf.random.normal([2, 4, 8])])  # [2, 10]
        ```
    """

    def __init__(self, self_interaction: bool = False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self_interaction, bool):
            raise ValueError("`self_interaction` must be a bool. "
                             f"Received: self_interaction={self_interaction!r}")
        self.self_interaction = self_interaction
        self._interaction = tfrs.layers.feature_interaction.DotInteraction(
            self_interaction=self_interaction, name="dot_interaction")

    @staticmethod
    def _shapes(input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and not isinstance(
                input_shape[0], (int, type(None))):
            return [tf.TensorShape(s) for s in input_shape]
        return [tf.TensorShape(input_shape)]

    def _num_vectors(self, input_shape):
        shapes = self._shapes(input_shape)
        if any(s.rank not in (2, 3) for s in shapes) or len({s[-1] for s in shapes}) != 1:
            raise ValueError(
                "DotInteraction expects [B, D] and [B, F, D] inputs of one width D. Received: "
                f"input_shape={[str(s) for s in shapes]}")
        return sum(1 if s.rank == 2 else s[1] for s in shapes)

    def build(self, input_shape):
        if self._num_vectors(input_shape) < 2:
            raise ValueError("DotInteraction needs at least 2 vectors to interact. "
                             f"Received: input_shape={input_shape}")
        super().build(input_shape)

    def call(self, inputs):
        parts = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        vectors = []
        for part in parts:
            vectors.extend([part] if part.shape.rank == 2 else tf.unstack(part, axis=1))
        return self._interaction(vectors)

    def compute_output_shape(self, input_shape):
        f = self._num_vectors(input_shape)
        batch = self._shapes(input_shape)[0][0]
        return tf.TensorShape([batch, f * (f + 1) // 2 if self.self_interaction else f * (f - 1) // 2])

    def get_config(self):
        config = super().get_config()
        config["self_interaction"] = self.self_interaction
        return config
