"""Task heads: an optional tower MLP, a one-unit output layer, the loss."""

import dataclasses

import tensorflow as tf
import tf_keras

from easyrank.protos import model_pb2

Task = model_pb2.TaskConfig

# Loss kinds of TaskSpec.loss, by TaskConfig.Loss value.
LOSSES = {Task.BINARY_CROSS_ENTROPY: "binary_cross_entropy",
          Task.MEAN_SQUARED_ERROR: "mean_squared_error"}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One task, compiled: what its head reads and how it is trained.

    input: a backbone.InputRef (a block output or a feature group's concat form).
    loss: "binary_cross_entropy" (outputs probs) or "mean_squared_error" (outputs predictions).
    """

    name: str
    label: str
    loss: str
    loss_weight: float
    input: object


class TaskHead(tf_keras.layers.Layer):
    """Tower + Dense(1) for one task; returns {"<task>/logits", "<task>/probs" | "<task>/predictions"}.

    Args:
      task_name: the task's name, the prefix of its output keys.
      classification: sigmoid probabilities ("probs") or the logit as is ("predictions").
      tower: an optional layer (e.g. layers.MLP) run before the output layer.
    """

    def __init__(self, task_name, classification, tower=None, **kwargs):
        super().__init__(name=f"head_{task_name}", **kwargs)
        self.task_name = task_name
        self.classification = classification
        self.tower = tower
        self.logit = tf_keras.layers.Dense(1, name="logit")

    def call(self, x, training=None):
        if x.shape.rank == 3:
            x = tf.reshape(x, [-1, x.shape[1] * x.shape[2]])
        if self.tower is not None:
            x = self.tower(x, training=training)
        logits = tf.cast(tf.squeeze(self.logit(x), axis=-1), tf.float32)
        name = self.task_name
        if self.classification:
            return {f"{name}/logits": logits, f"{name}/probs": tf.sigmoid(logits)}
        return {f"{name}/logits": logits, f"{name}/predictions": logits}


def prediction_key(task):
    """The output key holding a task's prediction (probability or value), of a TaskConfig."""
    suffix = "probs" if task.loss == Task.BINARY_CROSS_ENTROPY else "predictions"
    return f"{task.name}/{suffix}"


def task_loss(loss, logits, labels, weights):
    """Weighted mean loss of one task: sum(w * l) / sum(w); `loss` a TaskSpec.loss kind."""
    labels = tf.cast(labels, tf.float32)
    if loss == "binary_cross_entropy":
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    else:
        losses = tf.square(logits - labels)
    if weights is None:
        return tf.reduce_mean(losses)
    weights = tf.cast(weights, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * weights), tf.reduce_sum(weights))
