"""models/heads.py against NumPy: task losses, prediction keys, head outputs and tower shapes."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.layers.mlp import MLP
from easyrank.models import heads
from easyrank.protos import model_pb2

LOGITS = np.array([2.0, -1.0, 0.5, -3.0, 0.0], np.float32)
LABELS = np.array([1.0, 0.0, 0.0, 1.0, 1.0], np.float32)
WEIGHTS = np.array([1.0, 2.0, 0.5, 0.0, 3.0], np.float32)


def task(text):
    return text_format.Parse(text, model_pb2.TaskConfig())


BCE = heads.TaskSpec(name="ctr", label="click", loss="binary_cross_entropy", loss_weight=1.0,
                     input=None)
MSE = heads.TaskSpec(name="time", label="watch_time", loss="mean_squared_error", loss_weight=1.0,
                     input=None)


def bce(logits, labels):
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def loss(spec, weights=None, labels=LABELS):
    outputs = {f"{spec.name}/logits": tf.constant(LOGITS)}
    targets = {spec.label: tf.constant(labels)}
    return float(heads.task_loss(spec, outputs, targets, {},
                                 None if weights is None else tf.constant(weights)))


def test_binary_cross_entropy_is_the_mean_over_rows():
    assert loss(BCE) == pytest.approx(bce(LOGITS, LABELS).mean(), rel=1e-6)


def test_binary_cross_entropy_with_sample_weights_is_sum_wl_over_sum_w():
    expected = (WEIGHTS * bce(LOGITS, LABELS)).sum() / WEIGHTS.sum()
    assert loss(BCE, WEIGHTS) == pytest.approx(expected, rel=1e-6)
    # A row of weight 0 does not count: dropping it gives the same loss.
    kept = WEIGHTS > 0
    assert expected == pytest.approx((WEIGHTS[kept] * bce(LOGITS[kept], LABELS[kept])).sum()
                                     / WEIGHTS[kept].sum())


def test_mean_squared_error_with_and_without_weights():
    squared = (LOGITS.astype(np.float64) - LABELS) ** 2
    assert loss(MSE) == pytest.approx(squared.mean(), rel=1e-6)
    assert loss(MSE, WEIGHTS) == pytest.approx((WEIGHTS * squared).sum() / WEIGHTS.sum(), rel=1e-6)


def test_all_zero_weights_give_zero_loss_not_nan():
    assert loss(BCE, np.zeros(5, np.float32)) == 0.0


def test_integer_labels_are_accepted():
    assert loss(BCE, labels=LABELS.astype(np.int64)) == pytest.approx(bce(LOGITS, LABELS).mean(),
                                                                      rel=1e-6)


def test_prediction_keys():
    assert heads.prediction_key(task('name: "ctr" loss: BINARY_CROSS_ENTROPY')) == "ctr/probs"
    assert heads.prediction_key(task('name: "time" loss: MEAN_SQUARED_ERROR')) == "time/predictions"


def test_classification_head_outputs_logits_and_their_sigmoid():
    head = heads.TaskHead("ctr", classification=True)
    x = tf.random.stateless_normal([6, 5], seed=[1, 2])
    out, _ = head(x)
    assert sorted(out) == ["ctr/logits", "ctr/probs"]
    assert out["ctr/logits"].shape == (6,) and out["ctr/logits"].dtype == tf.float32
    kernel, bias = head.logit.kernel.numpy(), head.logit.bias.numpy()
    np.testing.assert_allclose(out["ctr/logits"], (x.numpy() @ kernel)[:, 0] + bias, rtol=1e-5)
    np.testing.assert_allclose(out["ctr/probs"], 1 / (1 + np.exp(-out["ctr/logits"].numpy())),
                               rtol=1e-5)


def test_regression_head_predicts_the_logit():
    out, _ = heads.TaskHead("time", classification=False)(tf.ones([3, 4]))
    assert sorted(out) == ["time/logits", "time/predictions"]
    np.testing.assert_array_equal(out["time/logits"], out["time/predictions"])


def test_tower_shapes_and_three_dimensional_inputs():
    head = heads.TaskHead("ctr", classification=True, tower=MLP([8, 4], name="tower"))
    out, hidden = head(tf.ones([7, 3, 5]))  # [batch, blocks, dim] is flattened to [batch, 15]
    assert out["ctr/probs"].shape == (7,) and hidden.shape == (7, 4)
    assert [w.shape.as_list() for w in head.tower.trainable_weights if "kernel" in w.name] == [
        [15, 8], [8, 4]]
    assert head.logit.kernel.shape == (4, 1)
