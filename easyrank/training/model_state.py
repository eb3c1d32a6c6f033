"""The model, optimizer and checkpoint of a run, built and restored."""

import contextlib
import logging

import tensorflow as tf
import tf_keras

from easyrank.errors import ConfigError
from easyrank.io import files
from easyrank.models import build_model
from easyrank.training import checkpoint_integrity, chunked_restore, embedding_optimizers, optimizers, strategies
from easyrank.training.dynamic_slots import attach_optimizer_slots

logger = logging.getLogger(__name__)


def create_model(config, strategy):
    """Model, optimizer and checkpoint, inside the strategy scope."""
    train = config.train_config
    with strategy.scope(), precision_policy(train.mixed_precision):
        model = build_model(config)
        optimizer = optimizers.build_training_optimizer(train, table_names(model))
        if train.mixed_precision == "mixed_float16":
            optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
        if train.jit_compile:
            model.enable_jit()
        model.compile(optimizer=optimizer, steps_per_execution=train.steps_per_execution)
        optimizer.build(model.trainable_variables)
        attach_optimizer_slots(model, optimizer)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    return model, checkpoint


def table_names(model):
    """Names of the model's embedding table variables (each shard's, when partitioned)."""
    names = []
    for table in model.feature_groups.tables.values():
        parts = table.variables if isinstance(table, tf.__internal__.distribute.ShardedVariable) \
            else [table]
        names.extend(embedding_optimizers.table_name(v) for v in parts)
    return names


@contextlib.contextmanager
def precision_policy(name):
    """Layers built inside use the Keras mixed precision policy `name` ("" = float32)."""
    if not name or name == "float32":
        yield
        return
    previous = tf_keras.mixed_precision.global_policy()
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        tf_keras.mixed_precision.set_global_policy(previous)


def single_device_model(config, checkpoint_path):
    """A float32 one-device copy of the model restored from `checkpoint_path` (for eval/export)."""
    model = build_model(config)
    chunked_restore.restore(tf.train.Checkpoint(model=model), checkpoint_path).expect_partial()
    return model


def global_step(model):
    """The optimizer's step count as an int (under any strategy)."""
    return int(model.optimizer.iterations.numpy())


def restore(checkpoint, path_or_dir, fall_back=False):
    """Restores a checkpoint file or the latest in a directory; returns its path or None.

    A damaged checkpoint (checkpoint_integrity) is a DataError naming its file; with
    `fall_back` (resuming a run in model_dir), the newest intact checkpoint of the directory
    is restored instead, with a warning naming the damaged ones.
    """
    if files.isdir(path_or_dir):
        paths = checkpoint_integrity.candidates(path_or_dir)
        if not fall_back:
            paths = paths[:1]
    else:  # a checkpoint prefix such as model_dir/ckpt-469; a missing one restores nothing
        paths = [path_or_dir] if checkpoint_integrity.exists(path_or_dir) else []
    damaged = []
    for path in paths:
        reason = checkpoint_integrity.damage(path)
        if reason is None:
            try:
                _restore(checkpoint, path)
            except checkpoint_integrity.DAMAGE_ERRORS as e:
                reason = f"{checkpoint_integrity.first_line(e)}"
        if reason is None:
            if damaged:
                logger.warning("The checkpoint %s is damaged (%s); resuming from the newest intact "
                               "checkpoint, %s.", damaged[0][0], "; ".join(r for _, r in damaged),
                               path)
            return path
        damaged.append((path, reason))
    if damaged:
        raise checkpoint_integrity.error(
            damaged[0][0], "; ".join(r for _, r in damaged)
            + ("" if len(damaged) == 1 else ", and no older checkpoint is intact"),
            "Resuming" if fall_back else "This command")
    return None


def _restore(checkpoint, path):
    try:
        # Values the objects do not use (a training run's input_state) are expected; large
        # tables and slots are read in place, chunk by chunk (no second copy of them).
        chunked_restore.restore(checkpoint, path).assert_existing_objects_matched().expect_partial()
    except (ValueError, AssertionError, tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as e:
        raise ConfigError(
            f"the checkpoint {path} does not fit the model of this config ({_first_line(e)}). "
            "A model whose variables changed (a grown vocabulary, another block) needs a new "
            "model_dir with train_config.fine_tune_checkpoint pointing at the old one "
            "(docs/daily_training.md).", path="model_dir") from None


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def restore_model(config, checkpoint_path, config_file=None):
    """The model of `config` restored from a checkpoint file or directory (for eval and export).

    Raises ConfigError when `checkpoint_path` holds no checkpoint.
    """
    model, checkpoint = create_model(config, strategies.build_strategy(config.train_config))
    if not checkpoint_path or not restore(checkpoint, checkpoint_path):
        raise ConfigError(f"no checkpoint found in {checkpoint_path!r}; train first or pass "
                          "--checkpoint_path.", path="model_dir", file=config_file)
    return model
