"""training/optimizers.py against NumPy: learning-rate schedules, warm-up, each optimizer's steps."""

import math

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.protos import train_pb2
from easyrank.training import optimizers

STEPS = np.array([0, 1, 5, 99, 100, 101, 250, 999, 1000, 5000])


def schedule(text):
    return text_format.Parse(text, train_pb2.LearningRateSchedule())


def rates(value, steps=STEPS):
    if callable(value):
        return np.array([float(value(tf.constant(s, tf.int64))) for s in steps])
    return np.full(len(steps), float(value))


def test_constant_rate():
    np.testing.assert_allclose(rates(optimizers.build_learning_rate(0.01, schedule(""))), 0.01)


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    value = optimizers.build_learning_rate(0.1, schedule(
        f"exponential_decay {{ decay_steps: 100 decay_rate: 0.5 staircase: {str(staircase).lower()} }}"))
    exponent = STEPS // 100 if staircase else STEPS / 100
    np.testing.assert_allclose(rates(value), 0.1 * 0.5 ** exponent, rtol=1e-5)


def test_cosine_decay():
    value = optimizers.build_learning_rate(0.1, schedule("cosine_decay { decay_steps: 1000 alpha: 0.1 }"))
    progress = np.minimum(STEPS, 1000) / 1000
    expected = 0.1 * ((1 - 0.1) * 0.5 * (1 + np.cos(math.pi * progress)) + 0.1)
    np.testing.assert_allclose(rates(value), expected, rtol=1e-5)


def test_piecewise_constant():
    value = optimizers.build_learning_rate(0.1, schedule(
        "piecewise_constant { boundaries: [100, 1000] multipliers: [1, 0.1, 0.01] }"))
    # tf_keras: values[0] for step <= 100, values[1] for 100 < step <= 1000, then values[2].
    expected = np.select([STEPS <= 100, STEPS <= 1000], [0.1, 0.01], 0.001)
    np.testing.assert_allclose(rates(value), expected, rtol=1e-5)


def test_warmup_then_constant():
    value = optimizers.build_learning_rate(0.1, schedule("warmup_steps: 100"))
    expected = np.where(STEPS < 100, 0.1 * (STEPS + 1) / 100, 0.1)
    np.testing.assert_allclose(rates(value), expected, rtol=1e-5)
    assert rates(value, [0])[0] > 0  # the first step already moves


def test_warmup_then_decay_counted_from_the_end_of_warmup():
    value = optimizers.build_learning_rate(0.1, schedule(
        "warmup_steps: 100 exponential_decay { decay_steps: 100 decay_rate: 0.5 }"))
    expected = np.where(STEPS < 100, 0.1 * (STEPS + 1) / 100, 0.1 * 0.5 ** ((STEPS - 100) / 100))
    np.testing.assert_allclose(rates(value), expected, rtol=1e-5)


def test_current_learning_rate_is_the_rate_of_the_last_step():
    optimizer = optimizers.build_optimizer(text_format.Parse(
        "sgd { learning_rate: 0.1 schedule { warmup_steps: 10 } }", train_pb2.Optimizer()))
    var = tf.Variable([1.0])
    for _ in range(4):  # steps 0, 1, 2, 3
        optimizer.apply_gradients([(tf.constant([1.0]), var)])
    assert optimizers.current_learning_rate(optimizer) == pytest.approx(0.1 * 4 / 10)
    constant = optimizers.build_optimizer(text_format.Parse("adam { learning_rate: 0.003 }",
                                                            train_pb2.Optimizer()))
    assert optimizers.current_learning_rate(constant) == pytest.approx(0.003)


# ---- Each optimizer's first steps on a toy variable against NumPy ----

INIT = np.array([0.5, -1.0, 2.0], np.float32)
GRADS = [np.array([0.1, -0.2, 0.3], np.float32), np.array([-0.4, 0.05, 0.2], np.float32),
         np.array([0.3, 0.3, -0.1], np.float32)]


def run(text, grads=GRADS):
    optimizer = optimizers.build_optimizer(text_format.Parse(text, train_pb2.Optimizer()))
    var = tf.Variable(INIT)
    trajectory = []
    for g in grads:
        optimizer.apply_gradients([(tf.constant(g), var)])
        trajectory.append(var.numpy().copy())
    return np.array(trajectory)


def adam(lr, b1, b2, eps, grads=GRADS):
    w, m, v, out = INIT.astype(np.float64), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
        out.append(w)
    return np.array(out)


def test_adam():
    np.testing.assert_allclose(
        run("adam { learning_rate: 0.01 beta_1: 0.8 beta_2: 0.99 epsilon: 1e-6 }"),
        adam(0.01, 0.8, 0.99, 1e-6), rtol=1e-5)


def test_adam_is_the_default_optimizer():
    np.testing.assert_allclose(run(""), adam(0.001, 0.9, 0.999, 1e-7), rtol=1e-5)


def test_adagrad():
    w, acc, out = INIT.astype(np.float64), np.full(3, 0.2), []
    for g in GRADS:
        acc = acc + g * g
        w = w - 0.1 * g / np.sqrt(acc + 1e-7)
        out.append(w)
    np.testing.assert_allclose(run("adagrad { learning_rate: 0.1 initial_accumulator_value: 0.2 }"),
                               out, rtol=1e-5)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(momentum, nesterov):
    w, velocity, out = INIT.astype(np.float64), np.zeros(3), []
    for g in GRADS:
        velocity = momentum * velocity - 0.1 * g
        w = w + (momentum * velocity - 0.1 * g if nesterov else velocity)
        out.append(w)
    text = f"sgd {{ learning_rate: 0.1 momentum: {momentum} nesterov: {str(nesterov).lower()} }}"
    np.testing.assert_allclose(run(text), out, rtol=1e-5, atol=1e-7)


def test_ftrl():
    lr, power, l1, l2 = 0.1, -0.5, 0.01, 0.02
    w, acc, linear, out = INIT.astype(np.float64), np.full(3, 0.1), np.zeros(3), []
    for g in GRADS:
        new_acc = acc + g * g
        linear = linear + g - (new_acc ** -power - acc ** -power) / lr * w
        quadratic = new_acc ** -power / lr + 2 * l2
        w = (np.clip(linear, -l1, l1) - linear) / quadratic
        acc = new_acc
        out.append(w)
    text = (f"ftrl {{ learning_rate: {lr} learning_rate_power: {power} "
            f"l1_regularization_strength: {l1} l2_regularization_strength: {l2} }}")
    np.testing.assert_allclose(run(text), out, rtol=1e-5, atol=1e-7)


def test_clip_norm_scales_the_gradients_to_the_global_norm():
    big = [g * 100 for g in GRADS]
    clipped = [g * min(1.0, 0.5 / np.linalg.norm(g)) for g in big]
    w, out = INIT.astype(np.float64), []
    for g in clipped:
        w = w - 0.1 * g
        out.append(w)
    np.testing.assert_allclose(run("sgd { learning_rate: 0.1 } clip_norm: 0.5", big), out, rtol=1e-5)


def test_schedule_drives_the_optimizer_steps():
    # SGD with warm-up: step t (0-based) moves by lr * (t + 1) / warmup_steps * g.
    w, out = INIT.astype(np.float64), []
    for t, g in enumerate(GRADS):
        w = w - 0.1 * (t + 1) / 10 * g
        out.append(w)
    np.testing.assert_allclose(run("sgd { learning_rate: 0.1 schedule { warmup_steps: 10 } }"),
                               out, rtol=1e-5)
