"""Task heads: an optional tower MLP, a one-unit output layer, the loss."""

import dataclasses

import tensorflow as tf
import tf_keras

from easyrank.models import losses
from easyrank.protos import model_pb2

Task = model_pb2.TaskConfig

# Loss kinds of TaskSpec.loss, by TaskConfig.Loss value.
LOSSES = {Task.BINARY_CROSS_ENTROPY: "binary_cross_entropy",
          Task.MEAN_SQUARED_ERROR: "mean_squared_error",
          Task.FOCAL: "focal",
          Task.SOFTMAX_CROSS_ENTROPY: "softmax_cross_entropy",
          Task.PAIRWISE_LOGISTIC: "pairwise_logistic",
          Task.LISTWISE_SOFTMAX: "listwise_softmax"}
# Losses whose task predicts a probability of a 0/1 label ("<task>/probs").
BINARY_LOSSES = (Task.BINARY_CROSS_ENTROPY, Task.FOCAL)
# Losses that need task.group_field (the rows of a group are ranked together).
GROUP_LOSSES = (Task.PAIRWISE_LOGISTIC, Task.LISTWISE_SOFTMAX)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task, compiled: what its head reads and how it is trained.

    input: a backbone.InputRef (a block output or a feature group's concat form).
    loss: a LOSSES kind; "binary_cross_entropy" and "focal" output probs, "softmax_cross_entropy"
      a probability vector, the others predictions.
    The optional fields are those of TaskConfig (model.proto): a field name or None for
    weight_field, mask_field, group_field and esmm_parent; ignore_label_value None when unset.
    """

    name: str
    label: str
    loss: str
    loss_weight: float
    input: object
    num_classes: int = 1
    focal_gamma: float = 2.0
    focal_alpha: float = -1.0
    group_field: str | None = None
    weight_field: str | None = None
    mask_field: str | None = None
    ignore_label_value: float | None = None
    esmm_parent: str | None = None
    relation_tasks: tuple = ()
    label_threshold: float | None = None


class TaskHead(tf_keras.layers.Layer):
    """Tower + output layer for one task.

    Returns ({"<task>/logits", "<task>/probs" | "<task>/predictions"}, hidden), hidden being the
    tower's output (what DBMTL-style related tasks read).

    Args:
      task_name: the task's name, the prefix of its output keys.
      classification: probabilities ("probs": sigmoid, or softmax with num_classes > 1) or the
        output as is ("predictions").
      tower: an optional layer (e.g. layers.MLP) run before the output layer.
      num_classes: 1 (one logit per row) or the number of classes of a softmax.
    """

    def __init__(self, task_name, classification, tower=None, num_classes=1, **kwargs):
        super().__init__(name=f"head_{task_name}", **kwargs)
        self.task_name = task_name
        self.classification = classification
        self.num_classes = num_classes
        self.tower = tower
        self.logit = tf_keras.layers.Dense(num_classes, name="logit")

    def call(self, x, training=None, related=()):
        if x.shape.rank == 3:
            x = tf.reshape(x, [-1, x.shape[1] * x.shape[2]])
        if related:
            x = tf.concat([x] + [tf.cast(r, x.dtype) for r in related], axis=-1)
        if self.tower is not None:
            x = self.tower(x, training=training)
        logits = tf.cast(self.logit(x), tf.float32)
        name = self.task_name
        if self.num_classes > 1:
            return {f"{name}/logits": logits, f"{name}/probs": tf.nn.softmax(logits)}, x
        logits = tf.squeeze(logits, axis=-1)
        if self.classification:
            return {f"{name}/logits": logits, f"{name}/probs": tf.sigmoid(logits)}, x
        return {f"{name}/logits": logits, f"{name}/predictions": logits}, x


def prediction_key(task):
    """The output key holding a task's prediction (probability or value), of a TaskConfig."""
    probs = task.loss in BINARY_LOSSES or task.loss == Task.SOFTMAX_CROSS_ENTROPY
    return f"{task.name}/{'probs' if probs else 'predictions'}"


def task_loss(spec, outputs, targets, features, weights=None):
    """Weighted mean loss of one task over the rows it applies to; `spec` a TaskSpec.

    Rows outside the task's mask (mask_field, ignore_label_value) weigh 0. An ESMM task is
    trained through its joint probability p(parent) * p(task) on every row.
    """
    labels = tf.cast(targets[spec.label], tf.float32)
    if spec.label_threshold is not None:
        labels = tf.cast(labels >= spec.label_threshold, tf.float32)
    w = row_weights(spec, targets, features, weights, tf.shape(labels)[0],
                    masked=spec.esmm_parent is None)
    logits = outputs[f"{spec.name}/logits"]
    if spec.esmm_parent is not None:
        joint = tf.clip_by_value(outputs[f"{spec.name}/joint_probs"], 1e-7, 1 - 1e-7)
        return losses.weighted_mean(-(labels * tf.math.log(joint) + (1 - labels) * tf.math.log(1 - joint)), w)
    if spec.loss == "binary_cross_entropy":
        return losses.binary_cross_entropy(logits, labels, w)
    if spec.loss == "focal":
        return losses.focal(logits, labels, w, spec.focal_gamma, spec.focal_alpha)
    if spec.loss == "softmax_cross_entropy":
        safe = tf.where(w > 0, labels, 0.0)  # masked rows may hold any value
        return losses.softmax_cross_entropy(logits, safe, w)
    if spec.loss == "pairwise_logistic":
        return losses.pairwise_logistic(logits, labels, field(spec.group_field, targets, features), w)
    if spec.loss == "listwise_softmax":
        return losses.listwise_softmax(logits, labels, field(spec.group_field, targets, features), w)
    return losses.mean_squared_error(logits, labels, w)


def field(name, targets, features):
    """A label/weight target or an input feature by name."""
    return targets[name] if name in targets else features[name]


def row_weights(spec, targets, features, weights, batch_size, masked=True):
    """[B] float32: the task's sample weights (its own field, else `weights`), 0 outside its mask."""
    if spec.weight_field is not None:
        weights = field(spec.weight_field, targets, features)
    w = tf.ones([batch_size]) if weights is None else tf.cast(weights, tf.float32)
    if masked and spec.mask_field is not None:
        w *= tf.cast(tf.cast(field(spec.mask_field, targets, features), tf.float32) > 0.5, tf.float32)
    if masked and spec.ignore_label_value is not None:
        w *= tf.cast(tf.not_equal(tf.cast(targets[spec.label], tf.float32), spec.ignore_label_value), tf.float32)
    return w
