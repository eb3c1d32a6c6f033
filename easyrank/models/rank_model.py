"""RankModel: the tf_keras model of a compiled config, single- or multi-task.

    model = build_model(config)          # models.compiler; inside strategy.scope()
    outputs = model(features)            # {"<task>/logits", "<task>/probs", ...}

train_step computes the weighted sum of the task losses (plus regularisation
losses) so that `model.fit` trains it under any tf.distribute strategy.

call, train_step and test_step are traced as written, without AutoGraph (and so
is every layer they call): easyrank's layers branch and loop on the config
only, never on tensor values, and AutoGraph's rewrite of their source was most
of a training step's trace, about 3 s of census_dcn_mix's first step (issue 23).
"""

import tensorflow as tf
import tf_keras

from easyrank.backbone import gather
from easyrank.models.heads import task_loss


class RankModel(tf_keras.Model):
    """Feature groups -> backbone -> one head per task.

    Args:
      feature_groups: a features.FeatureGroups layer.
      backbone: a backbone.Backbone layer.
      tasks: heads.TaskSpec per task.
      heads: heads.TaskHead per task, in the order of `tasks`.
      input_fields: [(name, tf.DType, default)] of the feature inputs; a vector field's
        default is a list of its `length` values (input [B, length]).
      sample_weight_field: the target holding per-example weights, or None.
      dense_l2: L2 penalty dense_l2 * sum(w^2) on the kernels of the dense layers.
    """

    def __init__(self, feature_groups, backbone, tasks, heads, input_fields,
                 sample_weight_field=None, dense_l2=0.0, **kwargs):
        super().__init__(name="rank_model", **kwargs)
        self.dense_l2 = dense_l2
        self.tasks = tuple(tasks)
        self.sample_weight_field = sample_weight_field
        self.input_fields = list(input_fields)
        self.feature_groups = feature_groups
        self.backbone = backbone
        self.heads = list(heads)
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        self._jit = _Untracked(None)

    def enable_jit(self):
        """Runs the backbone XLA-compiled in training (train_config.jit_compile); the string
        feature transforms stay outside, and inference (eval, serving) is never compiled."""
        self._jit = _Untracked(tf.function(lambda groups: self.backbone(groups, training=True),
                                           jit_compile=True))

    @tf.autograph.experimental.do_not_convert
    def call(self, features, training=None):
        groups = self.feature_groups(features)
        if training and self._jit.value is not None:
            blocks = self._jit.value(groups)
        else:
            blocks = self.backbone(groups, training=training)
        outputs, hidden = {}, {}
        for task, head in zip(self.tasks, self.heads):
            related = [hidden[name] for name in task.relation_tasks]
            task_outputs, hidden[task.name] = head(gather(task.input, groups, blocks), training=training,
                                                   related=related)
            outputs.update(task_outputs)
            if task.esmm_parent is not None:
                outputs[f"{task.name}/joint_probs"] = (outputs[f"{task.esmm_parent}/probs"]
                                                       * outputs[f"{task.name}/probs"])
        return outputs

    def compute_total_loss(self, outputs, targets, features):
        """Weighted sum of task losses; returns (total, {task: loss})."""
        weights = targets.get(self.sample_weight_field) if self.sample_weight_field else None
        per_task = {}
        total = 0.0
        for task in self.tasks:
            loss = task_loss(task, outputs, targets, features, weights)
            per_task[task.name] = loss
            total += task.loss_weight * loss
        return total, per_task

    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        features, targets = data
        self.feature_groups.update_dynamic_tables(features)  # dynamic tables: admit, evict
        with tf.GradientTape() as tape:
            outputs = self(features, training=True)
            loss, per_task = self.compute_total_loss(outputs, targets, features)
            if self.losses:
                loss += tf.add_n(self.losses)
            if self.dense_l2:
                loss += self.dense_l2 * self.dense_kernel_norm()
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

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        features, targets = data
        outputs = self(features, training=False)
        loss, _ = self.compute_total_loss(outputs, targets, features)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def dense_kernel_norm(self):
        """sum(w^2) over the trainable weights of rank >= 2 that are not embedding tables."""
        tables = {id(t) for t in self.feature_groups.tables.values()}
        kernels = [v for v in self.trainable_variables if v.shape.rank >= 2 and id(v) not in tables]
        return tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, tf.float32))) for v in kernels]) if kernels else 0.0

    @property
    def metrics(self):
        return [self.loss_tracker]

    def dummy_features(self, batch_size=1):
        """A batch of default values for every input field (builds the variables)."""
        defaults = {name: tf.constant(default, dtype=dtype) for name, dtype, default in self.input_fields}
        return {name: tf.broadcast_to(value, [batch_size] + value.shape.as_list())
                for name, value in defaults.items()}


class _Untracked:
    """Hides a value from Keras/SavedModel attribute tracking."""

    def __init__(self, value):
        self.value = value

