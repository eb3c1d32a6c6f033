"""Optimizer and learning-rate schedule from a TrainConfig.Optimizer message."""

import tensorflow as tf
import tf_keras

from easyrank.training import embedding_optimizers


class WarmupSchedule(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 over `warmup_steps`, then `after` (counted from the end of warm-up)."""

    def __init__(self, after, warmup_steps, peak):
        self.after = after
        self.warmup_steps = warmup_steps
        self.peak = peak

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = self.peak * (step + 1.0) / float(self.warmup_steps)
        after = self.after(step - self.warmup_steps) if callable(self.after) else self.after
        return tf.where(step < self.warmup_steps, warm, after)

    def get_config(self):
        return {"warmup_steps": self.warmup_steps, "peak": self.peak}


def build_learning_rate(learning_rate, schedule):
    """A float or a LearningRateSchedule for the optimizer's base rate."""
    decay = schedule.WhichOneof("decay")
    value = learning_rate
    if decay == "exponential_decay":
        d = schedule.exponential_decay
        value = tf_keras.optimizers.schedules.ExponentialDecay(
            learning_rate, d.decay_steps, d.decay_rate, staircase=d.staircase)
    elif decay == "cosine_decay":
        d = schedule.cosine_decay
        value = tf_keras.optimizers.schedules.CosineDecay(learning_rate, d.decay_steps, alpha=d.alpha)
    elif decay == "piecewise_constant":
        d = schedule.piecewise_constant
        value = tf_keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(b) for b in d.boundaries], [learning_rate * m for m in d.multipliers])
    if schedule.warmup_steps > 0:
        value = WarmupSchedule(value, schedule.warmup_steps, learning_rate)
    return value


def build_optimizer(message):
    """tf_keras optimizer for an Optimizer message (Adam with defaults if unset)."""
    kind = message.WhichOneof("optimizer") or "adam"
    config = getattr(message, kind)
    lr = build_learning_rate(config.learning_rate, config.schedule)
    clip = {"global_clipnorm": message.clip_norm} if message.clip_norm > 0 else {}
    if kind == "adam":
        return tf_keras.optimizers.Adam(lr, beta_1=config.beta_1, beta_2=config.beta_2,
                                        epsilon=config.epsilon, **clip)
    if kind == "adagrad":
        return tf_keras.optimizers.Adagrad(
            lr, initial_accumulator_value=config.initial_accumulator_value, **clip)
    if kind == "sgd":
        return tf_keras.optimizers.SGD(lr, momentum=config.momentum, nesterov=config.nesterov, **clip)
    return tf_keras.optimizers.Ftrl(
        lr, learning_rate_power=config.learning_rate_power,
        l1_regularization_strength=config.l1_regularization_strength,
        l2_regularization_strength=config.l2_regularization_strength, **clip)


def current_learning_rate(optimizer):
    """The learning rate at the optimizer's current step, as a float."""
    lr = optimizer.learning_rate
    if isinstance(lr, tf_keras.optimizers.schedules.LearningRateSchedule):
        return float(lr(optimizer.iterations))
    return float(tf.convert_to_tensor(lr))


def build_embedding_optimizer(train_config):
    """The SparseOptimizer of train_config.embedding_optimizer (unset: the row-wise form of
    train_config.optimizer), or None for `use_dense_optimizer: true`."""
    message = train_config.embedding_optimizer
    kind = message.WhichOneof("optimizer")
    if kind == "use_dense_optimizer":
        return None if message.use_dense_optimizer else _rowwise_form(train_config.optimizer)
    if kind is None:
        return _rowwise_form(train_config.optimizer)
    config = getattr(message, kind)
    lr = build_learning_rate(config.learning_rate, config.schedule)
    if kind == "lazy_adam":
        return embedding_optimizers.LazyAdam(lr, config.beta_1, config.beta_2, config.epsilon)
    if kind == "adagrad":
        return embedding_optimizers.SparseAdagrad(lr, config.initial_accumulator_value)
    if kind == "rowwise_adagrad":
        return embedding_optimizers.RowwiseAdagrad(lr, config.initial_accumulator_value,
                                                   config.epsilon)
    if kind == "ftrl":
        return _sparse_ftrl(lr, config)
    return embedding_optimizers.SparseSGD(lr, config.momentum, config.nesterov)


def _rowwise_form(message):
    """The SparseOptimizer that updates tables as `message` would, row by row."""
    kind = message.WhichOneof("optimizer") or "adam"
    config = getattr(message, kind)
    lr = build_learning_rate(config.learning_rate, config.schedule)
    if kind == "adam":
        return embedding_optimizers.LazyAdam(lr, config.beta_1, config.beta_2, config.epsilon)
    if kind == "adagrad":
        return embedding_optimizers.SparseAdagrad(lr, config.initial_accumulator_value)
    if kind == "sgd":
        return embedding_optimizers.SparseSGD(lr, config.momentum, config.nesterov)
    return _sparse_ftrl(lr, config)


def _sparse_ftrl(lr, config):
    return embedding_optimizers.SparseFtrl(
        lr, learning_rate_power=config.learning_rate_power,
        l1_regularization_strength=config.l1_regularization_strength,
        l2_regularization_strength=config.l2_regularization_strength)


def build_training_optimizer(train_config, table_names):
    """The optimizer of a run: train_config.optimizer for dense weights and, when the model
    has embedding tables (`table_names`), the embedding optimizer for them."""
    dense = build_optimizer(train_config.optimizer)
    embedding = build_embedding_optimizer(train_config) if table_names else None
    if embedding is None:
        return dense
    if train_config.optimizer.clip_norm > 0:
        embedding.global_clipnorm = train_config.optimizer.clip_norm
    return embedding_optimizers.SplitOptimizer(dense, embedding, table_names)
