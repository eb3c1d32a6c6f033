"""MaskNet: instance-guided masks and the MaskBlocks built on them.

The math is in docs/blocks.md#masknet.
"""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    Initializer,
    Regularizer,
    check_activation,
    check_positive_int,
    check_positive_number,
    check_rate,
    check_units,
    clone_initializer,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)
from easyrank.layers.mlp import MLP, build_sublayer


def _check_aggregation(aggregation_size, reduction_factor) -> None:
    if (aggregation_size is None) == (reduction_factor is None):
        raise ValueError(
            "Exactly one of `aggregation_size` and `reduction_factor` must be set. "
            f"Received: aggregation_size={aggregation_size!r}, "
            f"reduction_factor={reduction_factor!r}"
        )
    if aggregation_size is not None:
        check_positive_int("aggregation_size", aggregation_size)
    else:
        check_positive_number("reduction_factor", reduction_factor)


@tf_keras.utils.register_keras_serializable(package="easyrank")
class MaskBlock(tf_keras.layers.Layer):
    """A MaskBlock: an instance-guided mask, a projection, LN and an activation.

    Math: docs/blocks.md#masknet. The mask is computed from the feature
    embedding `V_emb` (the *mask input*):

        V_mask = W_d2 · ReLU(W_d1 · P(V_emb) + β_d1) + β_d2
        V_out  = act(LN(W_i · (V_mask ⊙ N(V_net))))

    `V_net`, the masked tensor, is `V_emb` itself (a MaskBlock on the feature
    embedding) or the output of a previous block (a MaskBlock on a MaskBlock).
    `P` is an optional low-rank projection of the mask input (`projection_dim`,
    no bias) and `N` an optional layer normalisation of the masked tensor
    (`input_layer_norm`, over its whole last axis). `W_d1` has `aggregation_size`
    units, or `int(reduction_factor * M)` with `M` the width of `V_emb`; `W_d2`
    has the width of `V_net`. `W_i` (`output_size` units) has no bias, as in the
    paper: the layer normalisation after it carries the shift.

    Reference:
        Z. Wang, Q. She, J. Zhang, "MaskNet: Introducing Feature-Wise
        Multiplication to CTR Ranking Models by Instance-Guided Mask", DLP-KDD
        2021, https://arxiv.org/abs/2102.07619.

    Args:
        output_size: Width of the output, a positive integer.
        aggregation_size: Width of the mask's first (aggregation) layer.
        reduction_factor: Or that width as a multiple of `M`. Exactly one of
            `aggregation_size` and `reduction_factor` must be set.
        projection_dim: If set, project the mask input to this width (no bias)
            before the aggregation layer, to save compute when `M` is large.
        input_layer_norm: Whether to layer-normalise the masked tensor.
        activation: Output activation, any `tf_keras` activation name; "linear"
            (or None) drops it, as in Twitter's variant. Default "relu".
        layer_norm_epsilon: The layer normalisations' epsilon. Default 1e-6: the
            pre-norm variance of a block can be ~1e-3 or less, which tf_keras'
            default 1e-3 would rescale instead of normalise (1e-3 was easyrank's
            value before issue 17).
        kernel_initializer: Initializer of the kernels other than `W_d1`.
        aggregation_initializer: Initializer of `W_d1`. Biases start at zero.
        kernel_regularizer: Regularizer of all kernels.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `V_emb`, a 2D tensor `[batch_size, M]`, or a list `[V_emb, V_prev]` with
        `V_prev` of shape `[batch_size, N]` (the mask is always computed from
        `V_emb`).

    Output shape:
        2D tensor `[batch_size, output_size]`.

    Example:

        ```python
        emb = tf_keras.Input(shape=(64,))
        x = MaskBlock(output_size=32, reduction_factor=2.0)(emb)
        y = MaskBlock(output_size=32, aggregation_size=128)([emb, x])
        ```
    """

    def __init__(
        self,
        output_size: int,
        aggregation_size: int | None = None,
        reduction_factor: float | None = None,
        projection_dim: int | None = None,
        input_layer_norm: bool = False,
        activation: str | None = "relu",
        kernel_initializer: Initializer = "glorot_uniform",
        aggregation_initializer: Initializer = "he_uniform",
        kernel_regularizer: Regularizer = None,
        layer_norm_epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.layer_norm_epsilon = check_positive_number("layer_norm_epsilon", layer_norm_epsilon)
        self.output_size = check_positive_int("output_size", output_size)
        _check_aggregation(aggregation_size, reduction_factor)
        self.aggregation_size = aggregation_size
        self.reduction_factor = None if reduction_factor is None else float(reduction_factor)
        self.projection_dim = check_positive_int(
            "projection_dim", projection_dim, allow_none=True
        )
        self.input_layer_norm = bool(input_layer_norm)
        self.activation = check_activation(
            "activation", "linear" if activation is None else activation, allow_layers=False
        )
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.aggregation_initializer = get_initializer(
            "aggregation_initializer", aggregation_initializer
        )
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)

    def _dense(self, units, name, use_bias=True, activation=None, initializer=None):
        return tf_keras.layers.Dense(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=clone_initializer(initializer or self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            name=name,
        )

    def build(self, input_shape):
        emb_shape, net_shape = _split_shapes(input_shape)
        for shape in (emb_shape, net_shape):
            if shape.rank != 2 or shape[-1] is None:
                raise ValueError(
                    "MaskBlock expects 2D inputs [batch_size, width] with a known "
                    f"width. Received: input_shape={input_shape}"
                )
        emb_dim, net_dim = int(emb_shape[-1]), int(net_shape[-1])
        if self.aggregation_size is not None:
            aggregation_size = self.aggregation_size
        else:
            aggregation_size = max(1, int(self.reduction_factor * emb_dim))
        mask_in_dim = emb_dim
        self.projection = None
        if self.projection_dim is not None:
            self.projection = self._dense(self.projection_dim, "projection", use_bias=False)
            build_sublayer(self.projection, [None, emb_dim])
            mask_in_dim = self.projection_dim
        self.aggregation = self._dense(
            aggregation_size,
            "aggregation",
            activation="relu",
            initializer=self.aggregation_initializer,
        )
        build_sublayer(self.aggregation, [None, mask_in_dim])
        self.mask = self._dense(net_dim, "mask")
        build_sublayer(self.mask, [None, aggregation_size])
        self.input_norm = None
        if self.input_layer_norm:
            self.input_norm = tf_keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, name="input_layer_norm"
            )
            build_sublayer(self.input_norm, [None, net_dim])
        self.hidden = self._dense(self.output_size, "hidden", use_bias=False)
        build_sublayer(self.hidden, [None, net_dim])
        self.output_norm = tf_keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, name="output_layer_norm"
        )
        build_sublayer(self.output_norm, [None, self.output_size])
        self._activation_fn = tf_keras.activations.get(self.activation)
        super().build(input_shape)

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            emb, net = inputs
        else:
            emb = net = inputs
        mask_input = emb if self.projection is None else self.projection(emb)
        mask = self.mask(self.aggregation(mask_input))
        if self.input_norm is not None:
            net = self.input_norm(net)
        return self._activation_fn(self.output_norm(self.hidden(mask * net)))

    def compute_output_shape(self, input_shape):
        emb_shape, _ = _split_shapes(input_shape)
        return tf.TensorShape([emb_shape[0], self.output_size])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "output_size": self.output_size,
                "aggregation_size": self.aggregation_size,
                "reduction_factor": self.reduction_factor,
                "projection_dim": self.projection_dim,
                "input_layer_norm": self.input_layer_norm,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                **serialize_weight_args(self, "kernel_initializer", "aggregation_initializer", "kernel_regularizer"),
            }
        )
        return config


def _split_shapes(input_shape):
    """Returns (V_emb shape, masked tensor shape) from a shape or a list of two."""
    if isinstance(input_shape, (list, tuple)) and input_shape and not isinstance(
        input_shape[0], (int, type(None))
    ):
        if len(input_shape) != 2:
            raise ValueError(
                "MaskBlock takes V_emb or a list [V_emb, V_prev]. "
                f"Received: {len(input_shape)} inputs"
            )
        return tf.TensorShape(input_shape[0]), tf.TensorShape(input_shape[1])
    shape = tf.TensorShape(input_shape)
    return shape, shape


@tf_keras.utils.register_keras_serializable(package="easyrank")
class MaskNet(tf_keras.layers.Layer):
    """MaskNet: serial or parallel MaskBlocks, optionally followed by an MLP.

    Math: docs/blocks.md#masknet. *Serial*: block 1 masks the embedding, block
    `k` masks block `k-1`'s output; the output is the last block's. *Parallel*:
    `num_blocks` blocks, each on the embedding with its own weights; the output
    is their concatenation. Every block computes its mask from the input
    embedding `V_emb` and has its own mask weights. All blocks share the
    hyper-parameters below; see `MaskBlock` for them. When `hidden_units` is not
    empty, an `MLP` with that many layers follows (`mlp_activation`, dropout
    after each layer).

    Reference:
        Z. Wang, Q. She, J. Zhang, "MaskNet: Introducing Feature-Wise
        Multiplication to CTR Ranking Models by Instance-Guided Mask", DLP-KDD
        2021, https://arxiv.org/abs/2102.07619.

    Args:
        num_blocks: Number of MaskBlocks, a positive integer.
        output_size: Output width of each MaskBlock.
        aggregation_size: Width of each mask's aggregation layer.
        reduction_factor: Or that width as a multiple of the input width;
            exactly one of the two must be set.
        projection_dim: Optional low-rank projection of the mask input.
        input_layer_norm: Whether to layer-normalise the feature embedding before
            masking it: in every block of the parallel form, in the first block
            of the serial form (the paper's LN_EMB; later serial blocks mask the
            previous block's output, already normalised).
        parallel: Parallel (True) or serial (False, default) blocks.
        activation: Output activation of each block. Default "relu".
        hidden_units: Widths of the MLP after the blocks; empty (default) for none.
        dropout_rate: Dropout after each MLP layer, in [0, 1); needs `hidden_units`.
        mlp_activation: Activation of the MLP layers. Default "relu".
        kernel_initializer: Initializer of the kernels other than the
            aggregation layers' (and of the MLP's).
        aggregation_initializer: Initializer of the aggregation layers.
        kernel_regularizer: Regularizer of all kernels.
        layer_norm_epsilon: The layer normalisations' epsilon (see `MaskBlock`).
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        2D tensor `[batch_size, M]`, the flattened feature embeddings.

    Output shape:
        `[batch_size, hidden_units[-1]]` with an MLP; else `[batch_size,
        output_size]` (serial) or `[batch_size, num_blocks * output_size]`
        (parallel).

    Example:

        ```python
        emb = tf_keras.Input(shape=(64,))
        x = MaskNet(num_blocks=3, output_size=32, reduction_factor=2.0, parallel=True)(emb)
        logits = tf_keras.layers.Dense(1)(x)
        ```
    """

    def __init__(
        self,
        num_blocks: int,
        output_size: int,
        aggregation_size: int | None = None,
        reduction_factor: float | None = None,
        projection_dim: int | None = None,
        input_layer_norm: bool = False,
        parallel: bool = False,
        activation: str | None = "relu",
        hidden_units: Sequence[int] = (),
        dropout_rate: float = 0.0,
        mlp_activation: str = "relu",
        kernel_initializer: Initializer = "glorot_uniform",
        aggregation_initializer: Initializer = "he_uniform",
        kernel_regularizer: Regularizer = None,
        layer_norm_epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_layer_norm = bool(input_layer_norm)
        self.num_blocks = check_positive_int("num_blocks", num_blocks)
        self.parallel = bool(parallel)
        self.hidden_units = check_units("hidden_units", hidden_units, allow_empty=True)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        if self.dropout_rate > 0 and not self.hidden_units:
            raise ValueError(
                "`dropout_rate` applies to the MLP, which needs `hidden_units`. "
                f"Received: dropout_rate={dropout_rate!r}, hidden_units=[]"
            )
        self.mlp_activation = check_activation("mlp_activation", mlp_activation)
        self.blocks = [
            MaskBlock(
                output_size=output_size,
                aggregation_size=aggregation_size,
                reduction_factor=reduction_factor,
                projection_dim=projection_dim,
                input_layer_norm=self.input_layer_norm and (self.parallel or i == 0),
                activation=activation,
                kernel_initializer=kernel_initializer,
                aggregation_initializer=aggregation_initializer,
                kernel_regularizer=kernel_regularizer,
                layer_norm_epsilon=layer_norm_epsilon,
                name=f"mask_block_{i}",
            )
            for i in range(self.num_blocks)
        ]
        self.mlp = None
        if self.hidden_units:
            self.mlp = MLP(
                self.hidden_units,
                activation=self.mlp_activation,
                dropout_rate=self.dropout_rate,
                kernel_initializer=kernel_initializer,
                kernel_regularizer=kernel_regularizer,
                name="mlp",
            )

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 2 or input_shape[-1] is None:
            raise ValueError(
                "MaskNet expects a 2D input [batch_size, M] with a known M. "
                f"Received: input_shape={input_shape}"
            )
        output_size = self.blocks[0].output_size
        prev = [None, int(input_shape[-1])]
        for block in self.blocks:
            build_sublayer(block, input_shape if self.parallel else [input_shape, prev])
            if not self.parallel:
                prev = [None, output_size]
        if self.mlp is not None:
            width = output_size * (self.num_blocks if self.parallel else 1)
            build_sublayer(self.mlp, [None, width])
        super().build(input_shape)

    def call(self, inputs, training=None):
        if self.parallel:
            x = tf.concat([block(inputs) for block in self.blocks], axis=-1)
        else:
            x = inputs
            for block in self.blocks:
                x = block([inputs, x])
        if self.mlp is not None:
            x = self.mlp(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        if self.hidden_units:
            width = self.hidden_units[-1]
        else:
            width = self.blocks[0].output_size * (self.num_blocks if self.parallel else 1)
        return tf.TensorShape([tf.TensorShape(input_shape)[0], width])

    def get_config(self) -> dict:
        block_config = self.blocks[0].get_config()
        config = super().get_config()
        config.update({k: block_config[k] for k in _BLOCK_ARGS})
        config.update(
            {
                "num_blocks": self.num_blocks,
                "parallel": self.parallel,
                "hidden_units": list(self.hidden_units),
                "dropout_rate": self.dropout_rate,
                "mlp_activation": self.mlp_activation,
            }
        )
        return config


_BLOCK_ARGS = (
    "output_size",
    "aggregation_size",
    "reduction_factor",
    "projection_dim",
    "input_layer_norm",
    "activation",
    "layer_norm_epsilon",
    "kernel_initializer",
    "aggregation_initializer",
    "kernel_regularizer",
)
