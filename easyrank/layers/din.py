"""DIN: target attention over a user behaviour sequence.

The math is in docs/blocks.md#din-target-attention.
"""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    check_activation,
    check_units,
    clone_initializer,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)
from easyrank.layers.mlp import MLP, build_sublayer
from easyrank.layers.sequence_pool import lengths_mask

# The padding score of the reference implementation, used before the softmax.
_PADDING_SCORE = -(2.0**32) + 1.0


def _unpack(inputs):
    """Returns `(query, keys, lengths)` from a tuple, list or dict."""
    if isinstance(inputs, dict):
        missing = {"query", "keys", "lengths"} - set(inputs)
        if missing:
            raise ValueError(
                "DIN expects a dict with keys 'query', 'keys' and 'lengths'. "
                f"Missing: {sorted(missing)}"
            )
        return inputs["query"], inputs["keys"], inputs["lengths"]
    if isinstance(inputs, (list, tuple)) and len(inputs) == 3:
        return tuple(inputs)
    raise ValueError(
        "DIN expects inputs `(query, keys, lengths)`. "
        f"Received: {type(inputs).__name__} of length "
        f"{len(inputs) if isinstance(inputs, (list, tuple)) else 'n/a'}"
    )


@tf_keras.utils.register_keras_serializable(package="easyrank")
class DIN(tf_keras.layers.Layer):
    """Target attention of the Deep Interest Network over a behaviour sequence.

    Math: docs/blocks.md#din-target-attention. Pools a behaviour sequence with
    weights that depend on the target item:

        Q    = tile(q[:, None, :], T)                   # [B, T, E]
        a    = concat([Q, K, Q - K, Q * K], axis=-1)     # [B, T, 4E]
        s    = Dense_1(MLP(a))                           # [B, T]
        mask = t < len
        s    = softmax_T(where(mask, s, -2^32 + 1))      # normalize=True
             = where(mask, s, 0)                         # normalize=False (paper)
        out  = Σ_t s_t · K_t                             # [B, E]

    Padding positions get weight 0 and a row with length 0 gives a zero vector
    in both modes (never NaN). Lengths above T are clipped to T.

    Reference:
        G. Zhou, X. Zhu, C. Song, Y. Fan, H. Zhu, X. Ma, Y. Yan, J. Jin, H. Li,
        K. Gai, "Deep Interest Network for Click-Through Rate Prediction", KDD
        2018, https://arxiv.org/abs/1706.06978.

    Args:
        attention_units: Non-empty list of positive ints, the hidden widths of
            the attention MLP (the activation unit). Default [80, 40].
        attention_activation: Activation of the attention MLP: any tf_keras
            activation name, "prelu" or "dice". Default "sigmoid" (as in the
            reference implementation).
        normalize: Whether to softmax the scores over the valid positions.
            Default False, the paper's choice (keeps the intensity of the
            user's interest).
        kernel_initializer: Initializer of the dense kernels. Default
            "glorot_uniform".
        kernel_regularizer: Regularizer of the dense kernels, or None.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: A tuple `(query, keys, lengths)`, or a dict with those three
            keys. `query` `[B, E]` is the target item, `keys` `[B, T, E]` the
            padded behaviour sequence (same features, same width as the query),
            and `lengths` an int tensor `[B]` (or `[B, 1]`) with the true
            lengths.
        training: Python bool; matters for "dice" (batch statistics).

    Input shape:
        `query` `[batch_size, E]`, `keys` `[batch_size, T, E]`, `lengths`
        `[batch_size]`.

    Output shape:
        2D tensor `[batch_size, E]`.

    Example:

        ```python
        q, k = tf.random.normal([2, 8]), tf.random.normal([2, 5, 8])
        out = DIN(attention_units=[32, 16])((q, k, tf.constant([5, 0])))
        # out: [2, 8]; out[1] is all zeros (no history)
        ```
    """

    def __init__(
        self,
        attention_units: Sequence[int] = (80, 40),
        attention_activation: str = "sigmoid",
        normalize: bool = False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.attention_units = check_units("attention_units", attention_units)
        self.attention_activation = check_activation(
            "attention_activation", attention_activation
        )
        self.normalize = bool(normalize)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)
        self.attention_mlp = MLP(
            self.attention_units,
            activation=self.attention_activation,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name="attention_mlp",
        )
        self.score = tf_keras.layers.Dense(
            1,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            name="score",
        )

    def build(self, input_shape):
        query_shape, keys_shape, _ = (
            tf.TensorShape(s) for s in _unpack(input_shape)
        )
        if query_shape.rank != 2 or keys_shape.rank != 3:
            raise ValueError(
                "DIN expects `query` [B, E] and `keys` [B, T, E]. "
                f"Received: query shape {query_shape}, keys shape {keys_shape}"
            )
        if query_shape[-1] != keys_shape[-1]:
            raise ValueError(
                "The query and keys of DIN must have the same width; concatenate the "
                "same item features on both sides. Received: query width "
                f"{query_shape[-1]}, keys width {keys_shape[-1]}"
            )
        width = keys_shape[-1]
        build_sublayer(self.attention_mlp, [keys_shape[0], keys_shape[1], 4 * width])
        build_sublayer(
            self.score, [keys_shape[0], keys_shape[1], self.attention_units[-1]]
        )
        super().build(input_shape)

    def call(self, inputs, training=None):
        query, keys, lengths = _unpack(inputs)
        hidden = self.attention_mlp.call_from(
            self._first_layer(query, keys), 0, training=training
        )
        scores = tf.cast(tf.squeeze(self.score(hidden), axis=-1), tf.float32)
        mask = lengths_mask(lengths, tf.shape(keys)[1])
        if self.normalize:
            scores = tf.where(mask, scores, tf.fill(tf.shape(scores), _PADDING_SCORE))
            scores = tf.nn.softmax(scores, axis=-1)
            # A row with no valid position would get uniform weights: zero it.
            scores = scores * tf.cast(mask, scores.dtype)
        else:
            scores = tf.where(mask, scores, tf.zeros_like(scores))
        return tf.einsum("bt,bte->be", tf.cast(scores, keys.dtype), keys)

    def _first_layer(self, query, keys):
        """The attention MLP's first Dense layer on `[q, k, q - k, q * k]` ([B, T, 4E]).

        With its kernel split in four [E, h] blocks W_1..W_4 this is
        q (W_1 + W_3) + k (W_2 - W_3) + (q * k) W_4 + b: the query term is computed once
        per row instead of once per position, and the [B, T, 4E] input is never built.
        """
        dense = self.attention_mlp.dense_layers[0]
        w_q, w_k, w_diff, w_prod = tf.split(tf.cast(dense.kernel, keys.dtype), 4, axis=0)
        per_position = tf.tensordot(
            tf.concat([keys, query[:, None, :] * keys], axis=-1),
            tf.concat([w_k - w_diff, w_prod], axis=0),
            axes=1,
        )
        x = per_position + tf.matmul(query, w_q + w_diff)[:, None, :]
        if dense.use_bias:
            x = tf.nn.bias_add(x, tf.cast(dense.bias, x.dtype))
        return x

    def compute_output_shape(self, input_shape):
        query_shape = tf.TensorShape(_unpack(input_shape)[0])
        return query_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "attention_units": list(self.attention_units),
                "attention_activation": self.attention_activation,
                "normalize": self.normalize,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
            }
        )
        return config
