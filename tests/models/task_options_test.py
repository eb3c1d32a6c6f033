"""Task options: masks, ignored labels, per-task weights, thresholds, ESMM, relations, losses."""

import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.evaluation import evaluator, metrics
from easyrank.models.heads import TaskSpec, task_loss
from easyrank.protos import model_pb2

BASE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "base.config")
RNG = np.random.default_rng(11)
N = 64
LOGITS = RNG.normal(size=N).astype(np.float32)
LABELS = (RNG.random(N) < 0.4).astype(np.float32)
CLICK = (RNG.random(N) < 0.5).astype(np.float32)
WEIGHT = RNG.random(N).astype(np.float32)


def bce(logits, labels):
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    return -(labels * np.log(p) + (1 - labels) * np.log(1 - p))


def spec(**kwargs):
    return TaskSpec("cvr", "y", kwargs.pop("loss", "binary_cross_entropy"), 1.0, None, **kwargs)


def run(task, outputs=None, targets=None, features=None, weights=None):
    outputs = outputs or {"cvr/logits": tf.constant(LOGITS)}
    targets = targets or {"y": tf.constant(LABELS), "click": tf.constant(CLICK)}
    return float(task_loss(task, outputs, targets, features or {}, weights))


def test_mask_field_trains_on_masked_rows_only():
    expected = bce(LOGITS, LABELS)[CLICK > 0.5].mean()
    assert run(spec(mask_field="click")) == pytest.approx(expected, rel=1e-5)


def test_ignored_labels_are_not_zeros():
    labels = np.where(np.arange(N) % 4 == 0, -1.0, LABELS).astype(np.float32)
    keep = labels != -1
    got = run(spec(ignore_label_value=-1.0), targets={"y": tf.constant(labels)})
    assert got == pytest.approx(bce(LOGITS[keep], labels[keep]).mean(), rel=1e-5)


def test_per_task_weight_field_from_the_features_overrides_the_global_weights():
    got = run(spec(weight_field="w", mask_field="click"), features={"w": tf.constant(WEIGHT)},
              weights=tf.ones([N]))
    w = WEIGHT * (CLICK > 0.5)
    assert got == pytest.approx((bce(LOGITS, LABELS) * w).sum() / w.sum(), rel=1e-5)


def test_label_threshold_binarizes_a_graded_label():
    ratings = RNG.choice([1.0, 2.5, 4.0, 5.0], N).astype(np.float32)
    got = run(spec(label_threshold=4.0), targets={"y": tf.constant(ratings)})
    assert got == pytest.approx(bce(LOGITS, (ratings >= 4).astype(np.float32)).mean(), rel=1e-5)


def test_esmm_trains_the_joint_probability_on_every_row():
    parent, child = 1 / (1 + np.exp(-RNG.normal(size=N))), 1 / (1 + np.exp(-LOGITS.astype(np.float64)))
    joint = parent * child
    outputs = {"cvr/logits": tf.constant(LOGITS), "cvr/joint_probs": tf.constant(joint, tf.float32)}
    got = run(spec(esmm_parent="ctr", mask_field="click"), outputs=outputs)  # the mask is for metrics only
    expected = -(LABELS * np.log(joint) + (1 - LABELS) * np.log(1 - joint)).mean()
    assert got == pytest.approx(expected, rel=1e-5)


def test_softmax_task_ignores_masked_rows_whatever_their_label():
    logits = RNG.normal(size=(N, 3)).astype(np.float32)
    classes = RNG.integers(0, 3, N).astype(np.float32)
    classes_with_junk = np.where(CLICK > 0.5, classes, -7.0).astype(np.float32)
    got = run(spec(loss="softmax_cross_entropy", num_classes=3, mask_field="click"),
              outputs={"cvr/logits": tf.constant(logits)},
              targets={"y": tf.constant(classes_with_junk), "click": tf.constant(CLICK)})
    shifted = logits - logits.max(1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    per_row = -log_softmax[np.arange(N), classes.astype(int)]
    assert got == pytest.approx(per_row[CLICK > 0.5].mean(), rel=1e-5)


def _task(text):
    return text_format.Parse('name: "cvr" label: "y" ' + text, model_pb2.TaskConfig())


def test_metrics_count_the_task_rows_only_and_esmm_adds_the_joint_auc():
    probs = 1 / (1 + np.exp(-LOGITS))
    collected = {"cvr/probs": probs, "cvr/joint_probs": probs * 0.5, "y": LABELS, "click": CLICK}
    task = _task('metrics: [AUC] mask_field: "click" esmm_parent: "ctr"')
    results = evaluator.compute_metrics([task], collected)
    rows = CLICK > 0.5
    assert results["cvr/auc"] == pytest.approx(metrics.auc(LABELS[rows], probs[rows]))
    assert results["cvr/joint_auc"] == pytest.approx(metrics.auc(LABELS, probs * 0.5))


def test_multiclass_metrics():
    probs = RNG.dirichlet([1, 1, 1], N)
    labels = RNG.integers(0, 3, N).astype(np.float32)
    task = _task("loss: SOFTMAX_CROSS_ENTROPY num_classes: 3 metrics: [ACCURACY, LOGLOSS, AUC]")
    results = evaluator.compute_metrics([task], {"cvr/probs": probs, "y": labels})
    assert results["cvr/accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    assert results["cvr/logloss"] == pytest.approx(-np.mean(np.log(probs[np.arange(N), labels.astype(int)])))
    ovr = [metrics.auc(labels == c, probs[:, c]) for c in range(3)]
    assert results["cvr/auc"] == pytest.approx(np.mean(ovr))


TWO_TASKS = """
model_config {{
  tasks {{ name: "ctr" label: "income_gt_50k" {first} }}
  tasks {{ name: "cvr" label: "income_gt_50k" {second} }}
}}
"""


@pytest.mark.parametrize("first, second, field", [
    ("", 'esmm_parent: "nope"', "tasks[1].esmm_parent"),
    ("loss: MEAN_SQUARED_ERROR", 'esmm_parent: "ctr"', "tasks[1].esmm_parent"),
    ("", 'relation_tasks: ["ctr"]', "tasks[1].relation_tasks[0]"),
    ("", 'relation_tasks: ["cvr"]', "tasks[1].relation_tasks[0]"),
    ("", "loss: SOFTMAX_CROSS_ENTROPY", "tasks[1].num_classes"),
    ("", "loss: SOFTMAX_CROSS_ENTROPY num_classes: 3 metrics: [CALIBRATION]", "tasks[1].metrics"),
    ("", "loss: PAIRWISE_LOGISTIC", "tasks[1].group_field"),
    ("", 'loss: LISTWISE_SOFTMAX group_field: "sex" metrics: [LOGLOSS]', "tasks[1].metrics"),
    ("", 'mask_field: "education"', "tasks[1].mask_field"),
    ("", 'sample_weight_field: "nope"', "tasks[1].sample_weight_field"),
    ("", "loss: FOCAL focal_gamma: -1", "tasks[1].focal_gamma"),
])
def test_bad_task_options_are_config_errors_naming_the_field(first, second, field):
    text = open(BASE, encoding="utf-8").read()
    text = text[:text.index("model_config {")] + text[text.index("train_config"):]
    group = 'feature_groups { name: "all" feature_names: ["age", "education", "sex"] }'
    backbone = 'backbone { blocks { name: "deep" inputs { feature_group: "all" } mlp { hidden_units: [8] } } }'
    text += TWO_TASKS.format(first=first, second=second).replace(
        "model_config {", f"model_config {{\n  {group}\n  {backbone}")
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "base.config"))
    assert info.value.path == "model_config." + field, (info.value.path, str(info.value))
