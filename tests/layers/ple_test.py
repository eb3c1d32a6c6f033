"""easyrank.layers.ple.PLE against a NumPy re-statement of PLE (Tang et al., 2020)."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from easyrank.layers.ple import PLE


def numpy_ple(layer, x):
    """Loops over levels, tasks and experts with the layer's weights."""
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    K, m, s = layer.num_tasks, layer.num_task_experts, layer.num_shared_experts
    n = K * m + s
    inputs = [x] * (K + 1)
    for level in range(layer.num_levels):
        bank = layer.experts[level]
        kernels = [k.numpy() for k in bank.kernels]
        biases = [b.numpy() for b in bank.biases]
        owners = [k for k in range(K) for _ in range(m)] + [K] * s
        experts = []
        for e in range(n):
            h = inputs[owners[e]]
            for kernel, bias in zip(kernels, biases):
                h = relu(h @ kernel[e] + bias[e])
            experts.append(h)
        outputs = []
        for k in range(K):
            chosen = experts[k * m:(k + 1) * m] + experts[K * m:]
            logits = inputs[k] @ layer.task_gates[level][k].kernel.numpy()
            gate = np.exp(logits - logits.max(1, keepdims=True))
            gate /= gate.sum(1, keepdims=True)
            outputs.append(sum(gate[:, [i]] * e for i, e in enumerate(chosen)))
        if level < layer.num_levels - 1:
            logits = inputs[-1] @ layer.shared_gates[level].kernel.numpy()
            gate = np.exp(logits - logits.max(1, keepdims=True))
            gate /= gate.sum(1, keepdims=True)
            outputs.append(sum(gate[:, [i]] * e for i, e in enumerate(experts)))
        inputs = outputs
    return inputs


@pytest.mark.parametrize("levels, tasks, task_experts, shared", [(1, 2, 1, 1), (2, 2, 2, 1), (3, 3, 1, 2)])
def test_ple_matches_numpy(levels, tasks, task_experts, shared):
    tf_keras.utils.set_random_seed(levels)
    layer = PLE(num_tasks=tasks, expert_units=[8, 4], num_levels=levels, num_task_experts=task_experts,
                num_shared_experts=shared)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    # Random weights everywhere (biases too), so that every path of the mixing is exercised.
    layer(x)
    for w in layer.weights:
        w.assign(np.random.default_rng(len(w.name)).normal(scale=0.5, size=w.shape))
    got = layer(x)
    expected = numpy_ple(layer, x.astype(np.float64))
    assert len(got) == tasks
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-5)


def test_gates_start_different():
    layer = PLE(num_tasks=2, expert_units=[4], num_levels=2)
    layer(tf.zeros([1, 5]))
    kernels = [g.kernel.numpy() for g in layer.task_gates[0]] + [layer.shared_gates[0].kernel.numpy()[:, :4]]
    assert not np.allclose(kernels[0], kernels[1]) and not np.allclose(kernels[0], kernels[2])


def test_cgc_has_no_shared_gate_and_outputs_per_task():
    layer = PLE(num_tasks=2, expert_units=[4], num_levels=1)
    outputs = layer(tf.zeros([3, 5]))
    assert [o.shape.as_list() for o in outputs] == [[3, 4], [3, 4]]
    assert not layer.shared_gates
    assert layer.compute_output_shape([3, 5])[0].as_list() == [3, 4]


def test_config_round_trip_and_bad_arguments():
    layer = PLE(num_tasks=2, expert_units=[4], num_levels=2, num_task_experts=1, num_shared_experts=3)
    clone = PLE.from_config(layer.get_config())
    assert clone.num_shared_experts == 3 and clone.num_levels == 2
    with pytest.raises(ValueError, match="num_levels"):
        PLE(num_tasks=2, expert_units=[4], num_levels=0)
    with pytest.raises(ValueError, match="expert_units"):
        PLE(num_tasks=2, expert_units=[])
