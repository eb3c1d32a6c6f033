"""PLE: progressive layered extraction (CGC is its one-level form). Math: docs/blocks.md#ple."""

from collections.abc import Sequence

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import serialize_weight_args
from easyrank.layers.mlp import build_sublayer, check_activation, check_rate, check_units, clone_initializer
from easyrank.layers.mmoe import ParallelMLP


def _positive(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return value


@tf_keras.utils.register_keras_serializable(package="easyrank")
class PLE(tf_keras.layers.Layer):
    """Progressive layered extraction: task-specific and shared experts, level by level.

    Math: docs/blocks.md#ple. At each level l, every task k has
    `num_task_experts` experts of its own and all tasks share
    `num_shared_experts` more. Task k's experts read task k's input, the shared
    experts read the shared input (at level 1 all inputs are `x`):

        E_k = experts of task k,  E_s = shared experts       (each [B, d])
        out_k = Σ_{e ∈ E_k ∪ E_s} softmax(W_k in_k)_e · e     (task gate, no bias)
        out_s = Σ_{e ∈ all experts} softmax(W_s in_s)_e · e   (shared gate, not at the last level)

    The next level's inputs are (out_1, ..., out_K, out_s); the last level
    returns (out_1, ..., out_K). With `num_levels=1` this is CGC (customized
    gate control).

    Reference:
        H. Tang, J. Liu, M. Zhao, X. Gong, "Progressive Layered Extraction
        (PLE): A Novel Multi-Task Learning (MTL) Model for Personalized
        Recommendations", RecSys 2020, https://doi.org/10.1145/3383313.3412236.

    Args:
        num_tasks: Positive int K, the number of task outputs.
        expert_units: Non-empty list of positive ints, the widths of each
            expert MLP (every level alike); d = expert_units[-1].
        num_levels: Positive int, the extraction levels (1 = CGC).
        num_task_experts: Positive int, experts per task and level.
        num_shared_experts: Positive int, shared experts per level.
        expert_activation: Activation of the experts (tf_keras name, "prelu"
            or "dice"). Default "relu".
        dropout_rate: Float in [0, 1), dropout after every expert layer.
        kernel_initializer: Initializer of every kernel (cloned per gate).
        **kwargs: Base `Layer` arguments.

    Input shape:
        `[B, M]`.

    Output shape:
        A list of K tensors `[B, d]`; output k feeds the tower of task k.

    Example:

    ```python
    ple = PLE(num_tasks=2, expert_units=[64, 32], num_levels=2)
    ctr, cvr = ple(tf.random.normal([8, 16]))
    ```
    """

    def __init__(
        self,
        num_tasks: int,
        expert_units: Sequence[int],
        num_levels: int = 2,
        num_task_experts: int = 2,
        num_shared_experts: int = 2,
        expert_activation: str = "relu",
        dropout_rate: float = 0.0,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tasks = _positive("num_tasks", num_tasks)
        self.expert_units = check_units("expert_units", expert_units)
        self.num_levels = _positive("num_levels", num_levels)
        self.num_task_experts = _positive("num_task_experts", num_task_experts)
        self.num_shared_experts = _positive("num_shared_experts", num_shared_experts)
        self.expert_activation = check_activation("expert_activation", expert_activation)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.kernel_initializer = tf_keras.initializers.get(kernel_initializer)
        n = self.num_tasks * self.num_task_experts + self.num_shared_experts
        self.experts, self.task_gates, self.shared_gates = [], [], []
        for level in range(self.num_levels):
            self.experts.append(ParallelMLP(
                n, self.expert_units, activation=self.expert_activation, dropout_rate=self.dropout_rate,
                kernel_initializer=self.kernel_initializer, name=f"experts_{level}"))
            self.task_gates.append([
                tf_keras.layers.Dense(self.num_task_experts + self.num_shared_experts, use_bias=False,
                                      kernel_initializer=clone_initializer(self.kernel_initializer),
                                      name=f"gate_{level}_{k}")
                for k in range(self.num_tasks)])
            if level < self.num_levels - 1:
                self.shared_gates.append(tf_keras.layers.Dense(
                    n, use_bias=False, kernel_initializer=clone_initializer(self.kernel_initializer),
                    name=f"shared_gate_{level}"))

    def _expert_inputs(self, inputs):
        """[n, B, M]: task k's input for each of its experts, the shared input for the shared ones."""
        per_expert = [inputs[k] for k in range(self.num_tasks) for _ in range(self.num_task_experts)]
        per_expert += [inputs[-1]] * self.num_shared_experts
        return tf.stack(per_expert, axis=0)

    def _task_gate(self, gate, k):
        """Task k's softmax over its own and the shared experts, as weights over all n experts
        (zero on the other tasks' experts), so that every output mixes in one einsum."""
        m, rows = self.num_task_experts, tf.shape(gate)[0]
        zeros = [tf.zeros(tf.stack([rows, width]), gate.dtype)
                 for width in (k * m, (self.num_tasks - 1 - k) * m)]
        return tf.concat([zeros[0], gate[:, :m], zeros[1], gate[:, m:]], axis=1)

    def build(self, input_shape):
        batch, width = tf.TensorShape(input_shape)[0], tf.TensorShape(input_shape)[-1]
        n, d = self.experts[0].num_parallel, self.expert_units[-1]
        for level in range(self.num_levels):
            gate_shape = [batch, width if level == 0 else d]
            build_sublayer(self.experts[level], gate_shape if level == 0 else [batch, n, d])
            for gate in self.task_gates[level] + self.shared_gates[level:level + 1]:
                build_sublayer(gate, gate_shape)
        super().build(input_shape)

    @staticmethod
    def _run_experts(experts, inputs, training):
        if experts.supports_stacked:
            return experts.call_stacked(inputs, training=training)
        if inputs.shape.rank == 3:  # learned activations: the [B, n, M] layout of their weights
            inputs = tf.transpose(inputs, [1, 0, 2])
        return tf.transpose(experts(inputs, training=training), [1, 0, 2])

    def call(self, x, training=None):
        inputs = [x] * (self.num_tasks + 1)
        for level in range(self.num_levels):
            # Level 0: every expert reads x, one matmul for all; later levels: [n, B, M].
            expert_input = x if level == 0 else self._expert_inputs(inputs)
            experts = self._run_experts(self.experts[level], expert_input, training)  # [n, B, d]
            gates = [self._task_gate(tf.nn.softmax(self.task_gates[level][k](inputs[k]), axis=-1), k)
                     for k in range(self.num_tasks)]
            if level < self.num_levels - 1:
                gates.append(tf.nn.softmax(self.shared_gates[level](inputs[-1]), axis=-1))
            mixed = tf.einsum("bkn,nbd->bkd", tf.stack(gates, axis=1), experts)
            inputs = tf.unstack(mixed, num=len(gates), axis=1)
        return inputs

    def compute_output_shape(self, input_shape):
        return [tf.TensorShape([tf.TensorShape(input_shape)[0], self.expert_units[-1]])] * self.num_tasks

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_tasks": self.num_tasks, "expert_units": list(self.expert_units), "num_levels": self.num_levels,
            "num_task_experts": self.num_task_experts, "num_shared_experts": self.num_shared_experts,
            "expert_activation": self.expert_activation, "dropout_rate": self.dropout_rate,
            **serialize_weight_args(self, "kernel_initializer"),
        })
        return config
