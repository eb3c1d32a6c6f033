"""Dice: the data-adaptive activation of DIN.

The math is in docs/blocks.md#dice.
"""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import check_positive_number, check_rate


@tf_keras.utils.register_keras_serializable(package="easyrank")
class Dice(tf_keras.layers.Layer):
    """Dice, the data-adaptive activation function of DIN.

    Math: docs/blocks.md#dice. A PReLU whose rectification point adapts to the
    input distribution:

        p(x) = sigmoid(BN(x))              # BN without scale and offset
        f(x) = p(x) * x + (1 - p(x)) * alpha * x

    `alpha` is learned, one value per feature position of the normalised axes,
    and starts at zero. The batch statistics are taken over every axis not in
    `axis`; at inference the moving averages are used.

    Reference:
        G. Zhou et al., "Deep Interest Network for Click-Through Rate
        Prediction", KDD 2018, https://arxiv.org/abs/1706.06978 (section 4.3).

    Args:
        axis: Int or list of ints, the feature axes (as in
            `BatchNormalization`). Statistics are computed over all other axes.
            Default -1.
        epsilon: Positive float added to the variance. Default 1e-9, as in the
            reference implementation (the paper gives 1e-8).
        momentum: Float in [0, 1), momentum of the moving averages. Default
            0.99.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        Any tensor of rank >= 2.

    Output shape:
        The input's shape.

    Example:

        ```python
        x = tf.random.normal([4, 8])
        y = Dice()(x, training=True)  # [4, 8]
        ```
    """

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-9,
        momentum: float = 0.99,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, int):
            axes = [axis]
        else:
            axes = list(axis)
        if not axes or not all(isinstance(a, int) for a in axes):
            raise ValueError(
                f"`axis` must be an int or a non-empty list of ints. Received: axis={axis!r}"
            )
        self.axis = axes
        self.epsilon = check_positive_number("epsilon", epsilon)
        self.momentum = check_rate("momentum", momentum)
        self.batch_norm = tf_keras.layers.BatchNormalization(
            axis=axes,
            epsilon=self.epsilon,
            momentum=self.momentum,
            center=False,
            scale=False,
            name="batch_norm",
        )

    def build(self, input_shape):
        rank = len(input_shape)
        axes = sorted(a % rank for a in self.axis)
        alpha_shape = [1] * rank
        for a in axes:
            alpha_shape[a] = input_shape[a]
        self.alpha = self.add_weight(
            name="alpha", shape=alpha_shape[1:], initializer="zeros", trainable=True
        )
        with tf.name_scope(self.batch_norm.name):
            self.batch_norm.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        p = tf_keras.activations.sigmoid(self.batch_norm(inputs, training=training))
        return p * inputs + (1.0 - p) * self.alpha * inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"axis": list(self.axis), "epsilon": self.epsilon, "momentum": self.momentum}
        )
        return config
