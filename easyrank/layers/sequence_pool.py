"""SequencePool: masked sum, mean or max pooling of a padded sequence.

The math is in docs/blocks.md#sequence-pooling.
"""

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import check_one_of

_POOLINGS = ("sum", "mean", "max")


def lengths_mask(lengths, maxlen) -> tf.Tensor:
    """Returns the boolean mask `t < lengths` of shape `[B, maxlen]`.

    Args:
        lengths: integer tensor `[B]` or `[B, 1]`, the true lengths. Lengths above
            `maxlen` select the whole row; lengths <= 0 select nothing.
        maxlen: the padded length T (int or scalar tensor).
    """
    lengths = tf.reshape(tf.cast(lengths, tf.int32), [-1])
    return tf.sequence_mask(tf.maximum(lengths, 0), maxlen=maxlen)


@tf_keras.utils.register_keras_serializable(package="easyrank")
class SequencePool(tf_keras.layers.Layer):
    """Masked pooling of a padded sequence over its time axis.

    Math: docs/blocks.md#sequence-pooling. Positions `t >= lengths[b]` are
    padding and ignored:

        sum:  out_b = Σ_{t < len_b} x_{b,t}
        mean: out_b = sum / max(min(len_b, T), 1)
        max:  out_b = max_{t < len_b} x_{b,t}

    A row with length 0 gives a zero vector for every pooling (never NaN or
    -inf). Lengths above T are clipped to T.

    Reference:
        The sum/average pooling baseline of G. Zhou et al., "Deep Interest
        Network for Click-Through Rate Prediction", KDD 2018,
        https://arxiv.org/abs/1706.06978.

    Args:
        pooling: One of "sum", "mean" (default) or "max".
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: A tuple `(sequence, lengths)` or a dict with keys "sequence" and
            "lengths"; `sequence` is `[B, T, E]` and `lengths` is an int tensor
            `[B]` (or `[B, 1]`). A bare `sequence` tensor pools every position.

    Input shape:
        `sequence` `[batch_size, T, E]`, `lengths` `[batch_size]`.

    Output shape:
        2D tensor `[batch_size, E]`.

    Example:

        ```python
        seq, lengths = tf.random.normal([2, 5, 8]), tf.constant([3, 0])
        out = SequencePool(pooling="max")((seq, lengths))  # [2, 8]; out[1] is zeros
        ```
    """

    def __init__(self, pooling: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.pooling = check_one_of("pooling", pooling, _POOLINGS)

    @staticmethod
    def _unpack(inputs):
        if isinstance(inputs, dict):
            return inputs["sequence"], inputs.get("lengths")
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(
                    "SequencePool expects `(sequence, lengths)`. "
                    f"Received a sequence of {len(inputs)} inputs."
                )
            return inputs[0], inputs[1]
        return inputs, None

    def call(self, inputs):
        sequence, lengths = self._unpack(inputs)
        if lengths is None:
            mask = tf.ones(tf.shape(sequence)[:2], tf.bool)
        else:
            mask = lengths_mask(lengths, tf.shape(sequence)[1])
        mask = mask[:, :, None]
        zeros = tf.zeros_like(sequence)
        if self.pooling == "max":
            lowest = tf.fill(tf.shape(sequence), sequence.dtype.min)
            pooled = tf.reduce_max(tf.where(mask, sequence, lowest), axis=1)
            return tf.where(tf.reduce_any(mask, axis=1), pooled, tf.zeros_like(pooled))
        total = tf.reduce_sum(tf.where(mask, sequence, zeros), axis=1)
        if self.pooling == "sum":
            return total
        count = tf.reduce_sum(tf.cast(mask, sequence.dtype), axis=1)
        return total / tf.maximum(count, 1.0)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["sequence"]
        elif isinstance(input_shape, (list, tuple)) and not isinstance(
            input_shape[0], (int, type(None))
        ):
            input_shape = input_shape[0]
        shape = tf.TensorShape(input_shape)
        return tf.TensorShape([shape[0], shape[2]])

    def get_config(self):
        config = super().get_config()
        config["pooling"] = self.pooling
        return config
