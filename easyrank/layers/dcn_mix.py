"""DCN-Mix: the cross network of DCN-V2 with a gated mixture of low-rank experts.

The math is in docs/blocks.md#dcn-mix.
"""

from typing import Any

import tensorflow as tf
import tf_keras

from easyrank.layers.checks import (
    Initializer,
    Regularizer,
    check_positive_int,
    clone_initializer,
    get_activation,
    get_initializer,
    get_regularizer,
    serialize_weight_args,
)


@tf_keras.utils.register_keras_serializable(package="easyrank")
class DCNMix(tf_keras.layers.Layer):
    """Cross network of DCN-Mix: each layer mixes low-rank cross experts.

    Math: docs/blocks.md#dcn-mix. Each of the `num_layers` layers maps `x_l` to
    `x_{l+1}` with `K = num_experts` experts of rank `R = projection_dim` and a
    softmax gate on `x_l`:

        E_i(x_l) = x_0 * (U_i g(C_i g(V_i^T x_l)) + b_i)      # i = 1..K
        G(x_l)   = softmax(W_g x_l)                            # W_g: M -> K, no bias
        x_{l+1}  = sum_i G_i(x_l) E_i(x_l) + x_l

    `*` is the element-wise product and `x_0` the layer input. The gate is a
    plain linear map, as in the paper (and DeepCTR's `CrossNetMix`): it has no
    bias. The `C_i` (`R x R`) matrices exist only with `use_low_rank_mixing`;
    without them the expert is `U_i g(V_i^T x_l)`, so `g` is applied once (the
    formula with `C = I` would apply it twice in a row). With the default
    `activation=None`, `g` is the identity and the expert is the plain low-rank
    cross `x_0 * (U_i V_i^T x_l + b_i)`.

    Parameters per layer: `K * (2*M*R + M) (+ K*R^2 with C) + M*K`, against
    `M^2 + M` for a full-rank DCN-V2 cross layer.

    The experts are computed together with `einsum` on stacked weights
    (`V`: `[K, M, R]`, `C`: `[K, R, R]`, `U`: `[K, R, M]`, `b`: `[K, M]`), and
    the gate is applied before the up-projection `U`, so no `[B, K, M]` tensor
    is formed.

    Reference:
        R. Wang et al., "DCN V2: Improved Deep & Cross Network and Practical
        Lessons for Web-scale Learning to Rank Systems", WWW 2021,
        https://arxiv.org/abs/2008.13535 (section 5, mixture of low-rank experts).

    Args:
        num_layers: Number of cross layers stacked, a positive integer.
        num_experts: Number of low-rank experts `K` per layer, a positive integer.
        projection_dim: Rank `R` of each expert, a positive integer (the paper
            suggests `R <= M / 2`). The same name as in `Cross` and
            `tfrs.layers.dcn.Cross`.
        use_low_rank_mixing: Whether each expert has an `R x R` matrix `C_i`
            between the down- and up-projections (`U_i g(C_i g(V_i^T x))`).
        activation: The non-linearity `g` inside the experts; `None` (default)
            is the identity. Anything `tf_keras.activations.get` accepts.
        kernel_initializer: Initializer for `U`, `V`, `C` and the gate kernel.
        bias_initializer: Initializer for the expert biases `b_i`.
        kernel_regularizer: Regularizer for `U`, `V`, `C` and the gate kernel.
        bias_regularizer: Regularizer for the expert biases.
        **kwargs: Base `Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        2D tensor `[batch_size, M]`: `x_0`, e.g. the concatenated embeddings.

    Output shape:
        2D tensor `[batch_size, M]`: `x_{num_layers}`.

    Example:

        ```python
        x0 = tf_keras.Input(shape=(64,))
        x = DCNMix(num_layers=2, num_experts=4, projection_dim=16)(x0)
        logits = tf_keras.layers.Dense(1)(x)
        ```
    """

    def __init__(
        self,
        num_layers: int = 1,
        num_experts: int = 4,
        projection_dim: int = 32,
        use_low_rank_mixing: bool = False,
        activation: Any | None = None,
        kernel_initializer: Initializer = "glorot_uniform",
        bias_initializer: Initializer = "zeros",
        kernel_regularizer: Regularizer = None,
        bias_regularizer: Regularizer = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_experts = check_positive_int("num_experts", num_experts)
        self.projection_dim = check_positive_int("projection_dim", projection_dim)
        self.use_low_rank_mixing = bool(use_low_rank_mixing)
        self.activation = get_activation("activation", activation)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.bias_initializer = get_initializer("bias_initializer", bias_initializer)
        self.kernel_regularizer = get_regularizer("kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = get_regularizer("bias_regularizer", bias_regularizer)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank != 2 or input_shape[-1] is None:
            raise ValueError(
                "DCNMix expects a 2D input [batch_size, M] with a known M. "
                f"Received: input_shape={input_shape}"
            )
        dim = int(input_shape[-1])
        k, r = self.num_experts, self.projection_dim
        self.v_kernels, self.c_kernels, self.u_kernels = [], [], []
        self.biases, self.gate_kernels = [], []
        for i in range(self.num_layers):
            self.v_kernels.append(
                self.add_weight(name=f"v_kernel_{i}", shape=(k, dim, r), **self._kernel_args())
            )
            if self.use_low_rank_mixing:
                self.c_kernels.append(
                    self.add_weight(name=f"c_kernel_{i}", shape=(k, r, r), **self._kernel_args())
                )
            self.u_kernels.append(
                self.add_weight(name=f"u_kernel_{i}", shape=(k, r, dim), **self._kernel_args())
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{i}",
                    shape=(k, dim),
                    initializer=clone_initializer(self.bias_initializer),
                    regularizer=self.bias_regularizer,
                )
            )
            self.gate_kernels.append(
                self.add_weight(name=f"gate_kernel_{i}", shape=(dim, k), **self._kernel_args())
            )
        super().build(input_shape)

    def _kernel_args(self) -> dict:
        return {
            "initializer": clone_initializer(self.kernel_initializer),
            "regularizer": self.kernel_regularizer,
        }

    def _g(self, x: tf.Tensor) -> tf.Tensor:
        return x if self.activation is None else self.activation(x)

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        x0 = inputs
        x = inputs
        for i in range(self.num_layers):
            gate = tf.nn.softmax(tf.matmul(x, self.gate_kernels[i]), axis=-1)  # [B, K]
            v = self._g(tf.einsum("bm,kmr->bkr", x, self.v_kernels[i]))  # [B, K, R]
            if self.use_low_rank_mixing:
                v = self._g(tf.einsum("bkr,krs->bks", v, self.c_kernels[i]))
            # sum_i G_i * (U_i v_i + b_i), with the gate folded in before U.
            mixed = tf.einsum("bkr,krm->bm", v * gate[:, :, None], self.u_kernels[i])
            mixed = mixed + tf.matmul(gate, self.biases[i])  # [B, M]
            x = x0 * mixed + x
        return x

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "num_experts": self.num_experts,
                "projection_dim": self.projection_dim,
                "use_low_rank_mixing": self.use_low_rank_mixing,
                "activation": (
                    None
                    if self.activation is None
                    else tf_keras.activations.serialize(self.activation)
                ),
                **serialize_weight_args(self, "kernel_initializer", "bias_initializer",
                                        "kernel_regularizer", "bias_regularizer"),
            }
        )
        return config

