"""Task heads: an optional tower MLP, a one-unit output layer, the loss."""

import tensorflow as tf
import tf_keras

from easyrank.backbone.builders import mlp_kwargs
from easyrank.errors import ConfigError
from easyrank.layers.mlp import MLP
from easyrank.protos import model_pb2

Task = model_pb2.TaskConfig


class TaskHead(tf_keras.layers.Layer):
    """Tower + Dense(1) for one task; returns {"<task>/logits", "<task>/probs" | "<task>/predictions"}."""

    def __init__(self, task, path, **kwargs):
        super().__init__(name=f"head_{task.name}", **kwargs)
        self.task_name = task.name
        self.classification = task.loss == Task.BINARY_CROSS_ENTROPY
        self.tower = None
        if task.HasField("tower"):
            kwargs = mlp_kwargs(task.tower, path + ".tower")
            try:
                self.tower = MLP(name="tower", **kwargs)
            except ValueError as e:
                raise ConfigError(str(e), path=path + ".tower") from None
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
    """The output key holding a task's prediction (probability or value)."""
    suffix = "probs" if task.loss == Task.BINARY_CROSS_ENTROPY else "predictions"
    return f"{task.name}/{suffix}"


def task_loss(task, logits, labels, weights):
    """Weighted mean loss of one task: sum(w * l) / sum(w)."""
    labels = tf.cast(labels, tf.float32)
    if task.loss == Task.BINARY_CROSS_ENTROPY:
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    else:
        losses = tf.square(logits - labels)
    if weights is None:
        return tf.reduce_mean(losses)
    weights = tf.cast(weights, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * weights), tf.reduce_sum(weights))
