"""MMoE: multi-gate mixture of experts, and the parallel MLP bank it runs on.

The math is in docs/blocks.md#mmoe.
"""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    check_activation,
    check_positive_int,
    check_rate,
    check_units,
    clone_initializer,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)
from easyrank.layers.mlp import build_sublayer, make_activation


def is_nested_shape(shape) -> bool:
    """Whether `shape` is a list or tuple of shapes rather than one shape."""
    return isinstance(shape, (list, tuple)) and any(
        isinstance(s, (list, tuple, tf.TensorShape)) for s in shape
    )


def _per_slice_initializer(initializer):
    """Initialises a stacked `[n, in, out]` kernel slice by slice, like n Dense."""

    def init(shape, dtype=None):
        return tf.stack(
            [clone_initializer(initializer)(shape[1:], dtype=dtype) for _ in range(shape[0])]
        )

    return init


@tf_keras.utils.register_keras_serializable(package="easyrank")
class ParallelMLP(tf_keras.layers.Layer):
    """`num_parallel` independent MLPs computed together with batched kernels.

    Math: docs/blocks.md#mmoe (the experts and the gates). Equivalent to
    `num_parallel` copies of `MLP(hidden_units, activation, dropout_rate,
    output_activation=...)` with their own weights, but each layer is one
    einsum over a stacked kernel `[n, in, out]` instead of n small matmuls.

    Args:
        num_parallel: Positive int n, the number of MLPs.
        hidden_units: Non-empty list of positive ints, the widths of each MLP.
        activation: Hidden activation (tf_keras name, "prelu" or "dice");
            learned activations have separate parameters per MLP. Default "relu".
        dropout_rate: Float in [0, 1), dropout after each layer. Default 0.
        output_activation: Activation of the last layer; None uses `activation`.
        use_bias: Whether the layers have biases. Default True.
        output_use_bias: Whether the last layer has biases; None (default) =
            `use_bias`.
        kernel_initializer: Initializer applied to each MLP's kernel as in
            `Dense`.
        kernel_regularizer: Regularizer of the stacked kernels, or None.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `[batch_size, M]` (one input shared by all MLPs) or
        `[batch_size, n, M]` (one input per MLP).

    Output shape:
        3D tensor `[batch_size, n, hidden_units[-1]]`.

    Example:

        ```python
        experts = ParallelMLP(num_parallel=4, hidden_units=[64, 32])
        y = experts(tf.random.normal([8, 16]))  # [8, 4, 32]
        ```
    """

    def __init__(
        self,
        num_parallel: int,
        hidden_units: Sequence[int],
        activation: str = "relu",
        dropout_rate: float = 0.0,
        output_activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        output_use_bias: bool | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.output_use_bias = None if output_use_bias is None else bool(output_use_bias)
        self.num_parallel = check_positive_int("num_parallel", num_parallel)
        self.hidden_units = check_units("hidden_units", hidden_units)
        self.activation = check_activation("activation", activation)
        if output_activation is not None:
            check_activation("output_activation", output_activation)
        self.output_activation = output_activation
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)
        self._activation_layers = []
        self._dropout = tf_keras.layers.Dropout(self.dropout_rate, name="dropout")

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank == 3 and input_shape[1] != self.num_parallel:
            raise ValueError(
                f"A [B, n, M] input to ParallelMLP must have n = num_parallel = "
                f"{self.num_parallel}. Received: input_shape={input_shape}"
            )
        if input_shape.rank not in (2, 3) or input_shape[-1] is None:
            raise ValueError(
                "ParallelMLP expects inputs [B, M] or [B, n, M] with a known M. "
                f"Received: input_shape={input_shape}"
            )
        self.kernels, self.biases, self._activation_layers = [], [], []
        self._has_bias = [self.use_bias] * len(self.hidden_units)
        if self.output_use_bias is not None:
            self._has_bias[-1] = self.output_use_bias
        width, last = input_shape[-1], len(self.hidden_units) - 1
        for i, units in enumerate(self.hidden_units):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=[self.num_parallel, width, units],
                    initializer=_per_slice_initializer(self.kernel_initializer),
                    regularizer=self.kernel_regularizer,
                )
            )
            if self._has_bias[i]:
                self.biases.append(
                    self.add_weight(
                        name=f"bias_{i}", shape=[self.num_parallel, units], initializer="zeros"
                    )
                )
            act = self.activation
            if i == last and self.output_activation is not None:
                act = self.output_activation
            layer = make_activation(act, rank=3, num_feature_axes=2, name=f"activation_{i}")
            build_sublayer(layer, [input_shape[0], self.num_parallel, units])
            self._activation_layers.append(layer)
            width = units
        super().build(input_shape)

    def call(self, inputs, training=None):
        if not self.supports_stacked:
            return self._call_batch_major(inputs, training)
        if inputs.shape.rank == 3:
            inputs = tf.transpose(inputs, [1, 0, 2])
        return tf.transpose(self.call_stacked(inputs, training=training), [1, 0, 2])

    def call_stacked(self, inputs, training=None):
        """The MLPs on `[B, M]` or MLP-major `[n, B, M]` inputs; returns `[n, B, d]`.

        The MLP-major layout makes every layer one batched matmul with no transposes
        (the `[B, n, M]` layout costs a copy of the activations on the way in and out of
        each layer, forward and backward). Requires activations without weights (not
        "prelu" or "dice"), whose parameters are laid out `[n, units]` per position.
        """
        if not self.supports_stacked:
            raise ValueError("call_stacked needs activations without weights.")
        x = inputs
        for i, kernel in enumerate(self.kernels):
            if x.shape.rank == 2:  # one input shared by all: one matmul [B, M] x [M, n*o]
                x = tf.einsum("bm,nmo->nbo", x, kernel)
            else:
                x = tf.matmul(x, kernel)
            if self._has_bias[i]:
                x = x + self.biases[sum(self._has_bias[:i])][:, None, :]
            x = self._activation_layers[i](x, training=training)
            if self.dropout_rate > 0:
                x = self._dropout(x, training=training)
        return x

    def _call_batch_major(self, inputs, training):
        """`[B, n, ...]` layout, for activations with per-position weights."""
        x = inputs
        for i, kernel in enumerate(self.kernels):
            equation = "bm,nmo->bno" if x.shape.rank == 2 else "bnm,nmo->bno"
            x = tf.einsum(equation, x, kernel)
            if self._has_bias[i]:
                x = x + self.biases[sum(self._has_bias[:i])]
            x = self._activation_layers[i](x, training=training)
            if self.dropout_rate > 0:
                x = self._dropout(x, training=training)
        return x

    @property
    def supports_stacked(self):
        """Whether `call_stacked` works: no activation has weights."""
        return not any(layer.weights for layer in self._activation_layers)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self.num_parallel, self.hidden_units[-1]])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_parallel": self.num_parallel,
                "hidden_units": list(self.hidden_units),
                "activation": self.activation,
                "dropout_rate": self.dropout_rate,
                "output_activation": self.output_activation,
                "use_bias": self.use_bias,
                "output_use_bias": self.output_use_bias,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
            }
        )
        return config


@tf_keras.utils.register_keras_serializable(package="easyrank")
class MMoE(tf_keras.layers.Layer):
    """Multi-gate mixture of experts: K task outputs from n shared experts.

    Math: docs/blocks.md#mmoe. `n` expert MLPs share one input; each of the K
    tasks mixes them with its own softmax gate:

        f_i(x)  = Expert_i(x)                          # stacked: [B, n, d]
        g^k(x)  = softmax(Gate_k(x)) ∈ R^n             # stacked: [B, K, n]
        out_k   = Σ_i g^k_i(x) · f_i(x)                # K tensors [B, d]

    `Gate_k` is a linear map to n logits, or an MLP (`gate_units`) followed by
    that linear map; as in the paper (g^k(x) = softmax(W_gk x)) the final map
    has no bias unless `gate_use_bias`. The experts are `ParallelMLP`s: each is
    `MLP(expert_units, expert_activation, dropout_rate)` with its own weights.

    Shared-bottom is MMoE with `num_experts=1`: no gate weights are created, the
    gates are identically 1 and every task receives the single expert's output.

    Reference:
        J. Ma, Z. Zhao, X. Yi, J. Chen, L. Hong, E. H. Chi, "Modeling Task
        Relationships in Multi-task Learning with Multi-gate
        Mixture-of-Experts", KDD 2018, https://doi.org/10.1145/3219819.3220007.

    Args:
        num_experts: Positive int n, the number of experts.
        expert_units: Non-empty list of positive ints, the widths of each
            expert MLP; d = expert_units[-1].
        num_tasks: Positive int K, the number of gates and outputs.
        gate_units: List of positive ints, hidden widths of an MLP inside each
            gate before the final linear layer; empty (default) = linear gate.
        expert_activation: Activation of the experts (tf_keras name, "prelu" or
            "dice"). Default "relu".
        gate_activation: Activation of the gate MLP's hidden layers. Default
            "relu".
        dropout_rate: Float in [0, 1), dropout after each expert layer.
            Default 0.
        kernel_initializer: Initializer of all kernels. Default
            "glorot_uniform".
        kernel_regularizer: Regularizer of all kernels, or None.
        gate_use_bias: Give the gates' final linear map a bias, an
            input-independent prior over the experts (easyrank before issue
            17). Default False.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `x` `[B, M]`, fed to experts and gates, or a tuple
            `(expert_input, gate_input)` `([B, M], [B, M_g])` when the gates
            should see a different input.
        training: Python bool, for dropout (and "dice").

    Input shape:
        `[batch_size, M]`, or `([batch_size, M], [batch_size, M_g])`.

    Output shape:
        A list of K tensors `[batch_size, d]`; output k feeds the tower of
        task k.

    Example:

        ```python
        mmoe = MMoE(num_experts=4, expert_units=[64, 32], num_tasks=2)
        ctr, cvr = mmoe(tf.random.normal([8, 16]))  # each [8, 32]
        ```
    """

    def __init__(
        self,
        num_experts: int,
        expert_units: Sequence[int],
        num_tasks: int,
        gate_units: Sequence[int] = (),
        expert_activation: str = "relu",
        gate_activation: str = "relu",
        dropout_rate: float = 0.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        gate_use_bias: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.gate_use_bias = bool(gate_use_bias)
        self.num_experts = check_positive_int("num_experts", num_experts)
        self.expert_units = check_units("expert_units", expert_units)
        self.num_tasks = check_positive_int("num_tasks", num_tasks)
        self.gate_units = check_units("gate_units", gate_units, allow_empty=True)
        self.expert_activation = check_activation("expert_activation", expert_activation)
        self.gate_activation = check_activation("gate_activation", gate_activation)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)
        self.experts = ParallelMLP(
            self.num_experts,
            self.expert_units,
            activation=self.expert_activation,
            dropout_rate=self.dropout_rate,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name="experts",
        )
        self.gates = None
        if self.num_experts > 1:
            self.gates = ParallelMLP(
                self.num_tasks,
                self.gate_units + [self.num_experts],
                activation=self.gate_activation,
                output_activation="linear",
                kernel_initializer=self.kernel_initializer,
                kernel_regularizer=self.kernel_regularizer,
                output_use_bias=self.gate_use_bias,
                name="gates",
            )

    @staticmethod
    def _split_inputs(inputs, shapes=False):
        """Returns `(expert_input, gate_input)` from tensors or from shapes."""
        if shapes and not is_nested_shape(inputs):
            return inputs, inputs
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(
                    "MMoE expects `x` or `(expert_input, gate_input)`. "
                    f"Received {len(inputs)} inputs."
                )
            return inputs[0], inputs[1]
        return inputs, inputs

    def _build_experts_and_gates(self, expert_shape, gate_shape):
        build_sublayer(self.experts, expert_shape)
        if self.gates is not None:
            build_sublayer(self.gates, gate_shape)

    def build(self, input_shape):
        self._build_experts_and_gates(*self._split_inputs(input_shape, shapes=True))
        super().build(input_shape)

    def _mix(self, experts, gate_input, training):
        """Mixes stacked experts `[B, n, d]` into K task outputs `[B, d]`."""
        if self.gates is None:
            return [experts[:, 0, :] for _ in range(self.num_tasks)]
        gates = tf.nn.softmax(self.gates(gate_input, training=training), axis=-1)
        mixed = tf.einsum("bkn,bnd->bkd", gates, experts)
        return tf.unstack(mixed, num=self.num_tasks, axis=1)

    def call(self, inputs, training=None):
        expert_input, gate_input = self._split_inputs(inputs)
        experts = self.experts(expert_input, training=training)
        return self._mix(experts, gate_input, training)

    def compute_output_shape(self, input_shape):
        expert_shape, _ = self._split_inputs(input_shape, shapes=True)
        shape = tf.TensorShape([tf.TensorShape(expert_shape)[0], self.expert_units[-1]])
        return [shape] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_experts": self.num_experts,
                "expert_units": list(self.expert_units),
                "num_tasks": self.num_tasks,
                "gate_units": list(self.gate_units),
                "expert_activation": self.expert_activation,
                "gate_activation": self.gate_activation,
                "gate_use_bias": self.gate_use_bias,
                "dropout_rate": self.dropout_rate,
                **serialize_weight_args(self, "kernel_initializer", "kernel_regularizer"),
            }
        )
        return config
