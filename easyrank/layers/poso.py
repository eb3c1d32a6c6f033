"""POSO: personalised cold-start gating of an MLP and of MMoE experts.

The math is in docs/blocks.md#poso.
"""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    check_activation,
    check_positive_number,
    check_rate,
    check_units,
    clone_initializer,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)
from easyrank.layers.mlp import MLP, build_sublayer, make_activation
from easyrank.layers.mmoe import MMoE, ParallelMLP


def _unpack_pair(inputs, layer_name):
    if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
        return inputs[0], inputs[1]
    raise ValueError(f"{layer_name} expects inputs `(x, x_pc)`. Received: {inputs!r}")


@tf_keras.utils.register_keras_serializable(package="easyrank")
class POSOMLP(tf_keras.layers.Layer):
    """An MLP whose every layer is gated by a personalisation input (POSO MLP).

    Math: docs/blocks.md#poso-mlp. For each layer l, with its own gate network
    `MLP_l` of output width `units_l`:

        g_l = C · sigmoid(MLP_l(x_pc))               # [B, units_l]
        h_l = Dropout(act(W_l · h_{l-1} + b_l) ⊙ g_l)

    With C = 2, a gate whose network outputs 0 is exactly 1, so the layer starts
    close to the ungated MLP (`MLP(hidden_units, activation, dropout_rate)`).

    Reference:
        S. Dai, H. Lin, Z. Zhao, J. Lin, H. Wu, Z. Wang, S. Yang, J. Liu, "POSO:
        Personalized Cold Start Modules for Large-scale Recommender Systems",
        arXiv 2021, https://arxiv.org/abs/2108.04690.

    Args:
        hidden_units: Non-empty list of positive ints, the widths of the gated
            MLP.
        activation: Activation of every gated layer (tf_keras name, "prelu" or
            "dice"). Default "relu".
        dropout_rate: Float in [0, 1), dropout after each gated layer. Default 0.
        gate_units: List of positive ints, hidden widths of each gate network
            before its final linear layer of width `units_l`. Default [32];
            empty makes each gate linear in `x_pc`.
        gate_activation: Activation of the gate networks' hidden layers.
            Default "relu".
        gate_scale: Positive float C, the gates' range is (0, C). Default 2.0.
        use_bias: Whether the gated layers have biases. Default True.
        kernel_initializer: Initializer of all kernels. Default
            "glorot_uniform".
        kernel_regularizer: Regularizer of all kernels, or None.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: A tuple `(x, x_pc)`: `x` `[B, M]` the main input, `x_pc`
            `[B, P]` the personalisation features (user activity level,
            new-user flag, ...).
        training: Python bool, for dropout (and "dice").

    Input shape:
        `([batch_size, M], [batch_size, P])`.

    Output shape:
        2D tensor `[batch_size, hidden_units[-1]]`.

    Example:

        ```python
        poso = POSOMLP(hidden_units=[256, 128], gate_units=[16])
        y = poso((tf.random.normal([8, 64]), tf.random.normal([8, 4])))  # [8, 128]
        ```
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        activation: str = "relu",
        dropout_rate: float = 0.0,
        gate_units: Sequence[int] = (32,),
        gate_activation: str = "relu",
        gate_scale: float = 2.0,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_units = check_units("hidden_units", hidden_units)
        self.activation = check_activation("activation", activation)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.gate_units = check_units("gate_units", gate_units, allow_empty=True)
        self.gate_activation = check_activation("gate_activation", gate_activation)
        self.gate_scale = check_positive_number("gate_scale", gate_scale)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)
        self._dense_layers = [
            tf_keras.layers.Dense(
                units,
                use_bias=self.use_bias,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                kernel_regularizer=self.kernel_regularizer,
                name=f"dense_{i}",
            )
            for i, units in enumerate(self.hidden_units)
        ]
        self._gate_layers = [
            MLP(
                self.gate_units + [units],
                activation=self.gate_activation,
                output_activation="linear",
                kernel_initializer=self.kernel_initializer,
                kernel_regularizer=self.kernel_regularizer,
                name=f"gate_{i}",
            )
            for i, units in enumerate(self.hidden_units)
        ]
        self._dropout = tf_keras.layers.Dropout(self.dropout_rate, name="dropout")
        self._activation_layers = []

    def build(self, input_shape):
        x_shape, pc_shape = (tf.TensorShape(s) for s in _unpack_pair(input_shape, "POSOMLP"))
        shape = x_shape.as_list()
        self._activation_layers = []
        for i, units in enumerate(self.hidden_units):
            build_sublayer(self._dense_layers[i], shape)
            shape = shape[:-1] + [units]
            act = make_activation(self.activation, len(shape), name=f"activation_{i}")
            build_sublayer(act, shape)
            self._activation_layers.append(act)
            build_sublayer(self._gate_layers[i], pc_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        h, x_pc = _unpack_pair(inputs, "POSOMLP")
        for dense, act, gate in zip(
            self._dense_layers, self._activation_layers, self._gate_layers
        ):
            h = act(dense(h), training=training)
            h = h * (self.gate_scale * tf.sigmoid(gate(x_pc, training=training)))
            if self.dropout_rate > 0:
                h = self._dropout(h, training=training)
        return h

    def compute_output_shape(self, input_shape):
        x_shape = tf.TensorShape(_unpack_pair(input_shape, "POSOMLP")[0])
        return x_shape[:-1].concatenate([self.hidden_units[-1]])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": self.activation,
                "dropout_rate": self.dropout_rate,
                "gate_units": list(self.gate_units),
                "gate_activation": self.gate_activation,
                "gate_scale": self.gate_scale,
                "use_bias": self.use_bias,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
            }
        )
        return config


@tf_keras.utils.register_keras_serializable(package="easyrank")
class POSOMMoE(MMoE):
    """MMoE whose expert outputs are gated by a personalisation input (POSO-MMoE).

    Math: docs/blocks.md#poso-mmoe. As `MMoE`, except that each expert's output
    is scaled per unit before the task gates mix them, by a gate network of its
    own on `x_pc`:

        f_i(x)  = Expert_i(x) ⊙ C · sigmoid(PosoGate_i(x_pc))     # [B, d] each
        out_k   = Σ_i softmax(Gate_k(gate_input))_i · f_i(x)

    A POSO gate whose network outputs 0 is exactly 1 (C = 2), leaving plain
    MMoE.

    Reference:
        S. Dai, H. Lin, Z. Zhao, J. Lin, H. Wu, Z. Wang, S. Yang, J. Liu, "POSO:
        Personalized Cold Start Modules for Large-scale Recommender Systems",
        arXiv 2021, https://arxiv.org/abs/2108.04690.
        and Ma et al., KDD 2018, for MMoE (see `MMoE`).

    Args:
        num_experts, expert_units, num_tasks, gate_units, expert_activation,
        gate_activation, dropout_rate, kernel_initializer, kernel_regularizer: As
            in `MMoE` (`gate_units` are the task gates' hidden widths).
        poso_gate_units: List of positive ints, hidden widths of each expert's
            POSO gate network before its final linear layer of width d. Default
            [32]; empty makes the POSO gates linear in `x_pc`.
        poso_gate_activation: Activation of those hidden layers. Default "relu".
        gate_scale: Positive float C, the POSO gates' range is (0, C). Default
            2.0.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: A tuple `(x, x_pc)`, or `(expert_input, gate_input, x_pc)` when
            the task gates should see a different input. `x_pc` `[B, P]` holds
            the personalisation features.
        training: Python bool, for dropout.

    Input shape:
        `([batch_size, M], [batch_size, P])` or
        `([batch_size, M], [batch_size, M_g], [batch_size, P])`.

    Output shape:
        A list of K tensors `[batch_size, d]`.

    Example:

        ```python
        moe = POSOMMoE(num_experts=4, expert_units=[32], num_tasks=2)
        ctr, cvr = moe((tf.random.normal([8, 16]), tf.random.normal([8, 3])))  # [8, 32] each
        ```
    """

    def __init__(
        self,
        num_experts: int,
        expert_units: Sequence[int],
        num_tasks: int,
        poso_gate_units: Sequence[int] = (32,),
        poso_gate_activation: str = "relu",
        gate_scale: float = 2.0,
        **kwargs,
    ):
        super().__init__(num_experts, expert_units, num_tasks, **kwargs)
        self.poso_gate_units = check_units("poso_gate_units", poso_gate_units, allow_empty=True)
        self.poso_gate_activation = check_activation(
            "poso_gate_activation", poso_gate_activation
        )
        self.gate_scale = check_positive_number("gate_scale", gate_scale)
        self.poso_gates = ParallelMLP(
            self.num_experts,
            self.poso_gate_units + [self.expert_units[-1]],
            activation=self.poso_gate_activation,
            output_activation="linear",
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name="poso_gates",
        )

    @staticmethod
    def _split_poso_inputs(inputs):
        """Returns `(expert_input, gate_input, x_pc)`."""
        if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            return inputs[0], inputs[0], inputs[1]
        if isinstance(inputs, (list, tuple)) and len(inputs) == 3:
            return tuple(inputs)
        raise ValueError(
            "POSOMMoE expects inputs `(x, x_pc)` or `(expert_input, gate_input, x_pc)`. "
            f"Received: {inputs!r}"
        )

    def build(self, input_shape):
        expert_shape, gate_shape, pc_shape = self._split_poso_inputs(input_shape)
        self._build_experts_and_gates(expert_shape, gate_shape)
        build_sublayer(self.poso_gates, pc_shape)
        tf_keras.layers.Layer.build(self, input_shape)

    def call(self, inputs, training=None):
        expert_input, gate_input, x_pc = self._split_poso_inputs(inputs)
        experts = self.experts(expert_input, training=training)
        poso = self.gate_scale * tf.sigmoid(self.poso_gates(x_pc, training=training))
        return self._mix(experts * poso, gate_input, training)

    def compute_output_shape(self, input_shape):
        return super().compute_output_shape(self._split_poso_inputs(input_shape)[0])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "poso_gate_units": list(self.poso_gate_units),
                "poso_gate_activation": self.poso_gate_activation,
                "gate_scale": self.gate_scale,
            }
        )
        return config
