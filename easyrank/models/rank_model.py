"""RankModel: the tf_keras model of a PipelineConfig, single- or multi-task.

    model = build_model(config)          # inside strategy.scope()
    outputs = model(features)            # {"<task>/logits", "<task>/probs", ...}

train_step computes the weighted sum of the task losses (plus regularisation
losses) so that `model.fit` trains it under any tf.distribute strategy.
"""

import tensorflow as tf
import tf_keras

from easyrank.backbone import Backbone, resolve_input
from easyrank.backbone.graph import output_name_index
from easyrank.data import input_signature_fields
from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups
from easyrank.models.heads import TaskHead, task_loss


class RankModel(tf_keras.Model):
    """Feature groups -> backbone -> one head per task.

    Args:
      config: a validated PipelineConfig.
    """

    def __init__(self, config, **kwargs):
        super().__init__(name="rank_model", **kwargs)
        model_config = config.model_config
        self.tasks = list(model_config.tasks)
        self.sample_weight_field = config.data_config.sample_weight_field or None
        self.input_fields = input_signature_fields(config.data_config)
        # float32 whatever the mixed precision policy: lookups and transforms stay exact.
        self.feature_groups = FeatureGroups(config.feature_configs, model_config.feature_groups,
                                            embedding_l2=model_config.embedding_l2, dtype="float32")
        self.backbone = Backbone(model_config.backbone, seed=config.train_config.seed)
        self.heads = [TaskHead(t, f"model_config.tasks[{i}]") for i, t in enumerate(self.tasks)]
        for i, task in enumerate(self.tasks):
            self._check_task_input(task, f"model_config.tasks[{i}].input")
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        self._jit = _Untracked(None)

    def enable_jit(self):
        """Runs the backbone XLA-compiled in training (train_config.jit_compile); the string
        feature transforms stay outside, and inference (eval, serving) is never compiled."""
        self._jit = _Untracked(tf.function(lambda groups: self.backbone(groups, training=True),
                                           jit_compile=True))

    def _check_task_input(self, task, path):
        """A task reading a multi-output block must pick one output (checked before any call)."""
        source = task.input if task.HasField("input") else None
        if source is None:
            block = self.backbone.output_block
        else:
            block = source.block if source.WhichOneof("source") == "block" else None
        if source is not None and source.output_name:
            output_name_index(source, self.backbone.output_names, path)
        elif block in self.backbone.output_names and not (
                source and source.HasField("output_index")):
            raise ConfigError(f"task {task.name!r} reads block {block!r}, which has one output per "
                              "task; pick one with input { block: ... output_index: k } or "
                              "output_name.", path=path)

    def call(self, features, training=None):
        groups = self.feature_groups(features)
        if training and self._jit.value is not None:
            blocks = self._jit.value(groups)
        else:
            blocks = self.backbone(groups, training=training)
        outputs = {}
        for i, (task, head) in enumerate(zip(self.tasks, self.heads)):
            if task.HasField("input"):
                x = resolve_input(task.input, groups, blocks, path=f"model_config.tasks[{i}].input",
                                  output_names=self.backbone.output_names)
            else:
                x = blocks[self.backbone.output_block]
            if isinstance(x, (list, tuple)):
                raise ConfigError(f"task {task.name!r} reads a block with {len(x)} outputs; pick "
                                  "one with input { block: ... output_index: k } or output_name.",
                                  path=f"model_config.tasks[{i}].input")
            outputs.update(head(x, training=training))
        return outputs

    def compute_total_loss(self, outputs, targets):
        """Weighted sum of task losses; returns (total, {task: loss})."""
        weights = targets.get(self.sample_weight_field) if self.sample_weight_field else None
        per_task = {}
        total = 0.0
        for task in self.tasks:
            loss = task_loss(task, outputs[f"{task.name}/logits"], targets[task.label], weights)
            per_task[task.name] = loss
            total += task.loss_weight * loss
        return total, per_task

    def train_step(self, data):
        features, targets = data
        with tf.GradientTape() as tape:
            outputs = self(features, training=True)
            loss, per_task = self.compute_total_loss(outputs, targets)
            if self.losses:
                loss += tf.add_n(self.losses)
            # Gradients are summed over replicas; scale so that they average.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
            loss_scaling = isinstance(self.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
            if loss_scaling:  # mixed_float16: keep small float16 gradients from underflowing
                scaled = self.optimizer.get_scaled_loss(scaled)
        gradients = tape.gradient(scaled, self.trainable_variables)
        if loss_scaling:
            gradients = self.optimizer.get_unscaled_gradients(gradients)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        features, targets = data
        outputs = self(features, training=False)
        loss, _ = self.compute_total_loss(outputs, targets)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]

    def dummy_features(self, batch_size=1):
        """A batch of default values for every input field (builds the variables)."""
        return {name: tf.fill([batch_size], tf.constant(default, dtype=dtype))
                for name, dtype, default in self.input_fields}


class _Untracked:
    """Hides a value from Keras/SavedModel attribute tracking."""

    def __init__(self, value):
        self.value = value


def build_model(config):
    """Builds a RankModel and creates its variables (call inside strategy.scope())."""
    model = RankModel(config)
    model(model.dummy_features(), training=False)
    return model
