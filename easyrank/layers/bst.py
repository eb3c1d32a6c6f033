"""BST: a transformer over a behaviour sequence and the target item."""

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    check_activation,
    check_one_of,
    check_positive_int,
    check_positive_number,
    check_rate,
)
from easyrank.layers.mlp import build_sublayer
from easyrank.layers.sequence_pool import lengths_mask

_POOLINGS = ("flatten", "target", "mean")


@tf_keras.utils.register_keras_serializable(package="easyrank")
class BST(tf_keras.layers.Layer):
    """Behaviour Sequence Transformer: self-attention over [target, history].

    Math: docs/blocks.md#bst. The target item `q` is put before the history `K` (same features, same
    width E), each position gets a learned position embedding, and `num_layers`
    post-norm transformer layers run over the `T + 1` positions with padding
    masked out of the keys:

        X_0 = [q; K_1 … K_T] + P[pos]        # pos: 0 for the target, len − t for
                                            # history item t (1 = most recent)
        A   = LN(X + Dropout(MHA(X, X, mask: key t valid iff t < len)))
        X'  = LN(A + Dropout(W_2 act(W_1 A + b_1) + b_2))

    Positions count back from the target, as the paper's pos(v_i) = t(v_t) −
    t(v_i) does with time, so the same recency gets the same embedding whatever
    the history length. The target is always a valid key, so a history of
    length 0 attends to the target alone (no NaN). Output (`pooling`):
    "flatten" (the paper's: the T + 1 outputs concatenated, padding positions
    zeroed) [B, (T+1)·E], "target" (the target's position) [B, E], or "mean"
    (over the target and the valid history) [B, E].

    Reference: Chen et al., 2019, "Behavior Sequence Transformer for E-commerce
    Recommendation in Alibaba" (https://arxiv.org/abs/1905.06874).

    Args:
        num_layers: transformer layers, >= 1. Default 1 (the paper's best).
        num_heads: attention heads, >= 1; each has key size max(1, E // num_heads).
            Default 8.
        intermediate_dim: width of the feed-forward layer; None = 4·E.
        activation: feed-forward activation (tf_keras name). Default "leaky_relu".
        dropout_rate: dropout on attention weights and both residual branches,
            in [0, 1). Default 0.1.
        pooling: "flatten" (default), "target" or "mean".
        use_position: add the learned position embeddings. Default True.
        layer_norm_epsilon: epsilon of the layer normalisations. Default 1e-6.
        **kwargs: base `Layer` arguments such as `name` and `dtype`.

    Call arguments:
        inputs: `(query, keys, lengths)`: `query` the target item, `keys` the
            padded history (valid positions first, most recent last) and
            `lengths` its true lengths.
        training: Python bool, for dropout.

    Input shape:
        `query` `[batch_size, E]`, `keys` `[batch_size, T, E]`, `lengths`
        `[batch_size]`.

    Output shape:
        `[batch_size, (T+1)·E]` ("flatten") or `[batch_size, E]`.

    Example:

        ```python
        q, k = tf.random.normal([2, 8]), tf.random.normal([2, 5, 8])
        BST(num_heads=2, pooling="target")((q, k, tf.constant([3, 0])))  # [2, 8]
        ```
    """

    def __init__(self, num_layers: int = 1, num_heads: int = 8, intermediate_dim: int | None = None,
                 activation: str = "leaky_relu", dropout_rate: float = 0.1,
                 pooling: str = "flatten", use_position: bool = True,
                 layer_norm_epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim, allow_none=True)
        self.activation = check_activation("activation", activation, allow_layers=False)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.pooling = check_one_of("pooling", pooling, _POOLINGS)
        self.use_position = bool(use_position)
        self.layer_norm_epsilon = check_positive_number("layer_norm_epsilon", layer_norm_epsilon)

    def build(self, input_shape):
        query_shape, keys_shape = tf.TensorShape(input_shape[0]), tf.TensorShape(input_shape[1])
        if query_shape.rank != 2 or keys_shape.rank != 3 or keys_shape[1] is None \
                or query_shape[-1] != keys_shape[-1]:
            raise ValueError("BST expects `query` [B, E] and `keys` [B, T, E] of the same width E "
                             f"and a known T. Received: query {query_shape}, keys {keys_shape}")
        steps, width = keys_shape[1] + 1, int(keys_shape[-1])
        self.positions = None
        if self.use_position:
            self.positions = self.add_weight(
                name="position_embedding", shape=[steps, width],
                initializer=tf_keras.initializers.RandomUniform(-0.05, 0.05))
        seq_shape = [None, steps, width]
        self.attention, self.ffn, self.norms = [], [], []
        for i in range(self.num_layers):
            mha = tf_keras.layers.MultiHeadAttention(
                self.num_heads, max(1, width // self.num_heads), dropout=self.dropout_rate,
                name=f"attention_{i}")
            with tf.name_scope(mha.name):  # tf_keras has no public MHA build (keras-nlp does this)
                mha._build_from_signature(query=seq_shape, value=seq_shape)
            inner = self.intermediate_dim or 4 * width
            ffn = (tf_keras.layers.Dense(inner, activation=self.activation, name=f"ffn_{i}_inner"),
                   tf_keras.layers.Dense(width, name=f"ffn_{i}_outer"))
            build_sublayer(ffn[0], seq_shape)
            build_sublayer(ffn[1], seq_shape[:2] + [inner])
            norms = [tf_keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                        name=f"layer_norm_{i}_{j}") for j in (0, 1)]
            for norm in norms:
                build_sublayer(norm, seq_shape)
            self.attention.append(mha)
            self.ffn.append(ffn)
            self.norms.append(norms)
        self._dropout = tf_keras.layers.Dropout(self.dropout_rate)
        super().build(input_shape)

    def call(self, inputs, training=None):
        query, keys, lengths = inputs
        steps = tf.shape(keys)[1]
        lengths = tf.minimum(tf.maximum(tf.reshape(tf.cast(lengths, tf.int32), [-1]), 0), steps)
        x = tf.concat([query[:, None, :], keys], axis=1)                       # [B, T+1, E]
        valid = tf.concat([tf.ones_like(lengths[:, None], tf.bool),
                           lengths_mask(lengths, steps)], axis=1)              # [B, T+1]
        if self.positions is not None:
            t = tf.range(steps + 1)[None, :]
            position = tf.where(valid & (t > 0), lengths[:, None] + 1 - t, 0)
            # Flat indices: under PARAMETER_SERVER the table may be a ShardedVariable,
            # whose gather takes 1-D indices only.
            rows = tf.gather(self.positions, tf.reshape(position, [-1]))
            x = x + tf.reshape(rows, tf.shape(x))
        mask = tf.broadcast_to(valid[:, None, :], [tf.shape(x)[0], steps + 1, steps + 1])
        for mha, ffn, (norm_a, norm_f) in zip(self.attention, self.ffn, self.norms):
            attended = mha(x, x, attention_mask=mask, training=training)
            x = norm_a(x + self._dropout(attended, training=training))
            x = norm_f(x + self._dropout(ffn[1](ffn[0](x)), training=training))
        weights = tf.cast(valid, x.dtype)[:, :, None]
        if self.pooling == "target":
            return x[:, 0, :]
        if self.pooling == "mean":
            return tf.reduce_sum(x * weights, axis=1) / tf.reduce_sum(weights, axis=1)
        return tf.reshape(x * weights, [-1, x.shape[1] * x.shape[2]])

    def compute_output_shape(self, input_shape):
        keys_shape = tf.TensorShape(input_shape[1])
        width = keys_shape[-1] * (keys_shape[1] + 1) if self.pooling == "flatten" else keys_shape[-1]
        return tf.TensorShape([keys_shape[0], width])

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_layers": self.num_layers, "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim, "activation": self.activation,
            "dropout_rate": self.dropout_rate, "pooling": self.pooling,
            "use_position": self.use_position, "layer_norm_epsilon": self.layer_norm_epsilon,
        })
        return config
