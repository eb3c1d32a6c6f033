"""Train and evaluate: the life cycle behind `python -m easyrank.train`.

model_dir holds checkpoints (ckpt-<step>), TensorBoard summaries (train/,
eval/), pipeline.config, eval_result.json and, by default, export/<version>/.
A run whose model_dir has a checkpoint resumes from it, skipping the batches
already trained on, so an interrupted run loses at most one checkpoint interval.
"""

import contextlib
import os
import time

import tensorflow as tf
import tf_keras
from absl import logging
from google.protobuf import text_format

from easyrank import distribute, evaluation, export, optimizers
from easyrank.data import build_dataset, count_rows
from easyrank.models import build_model


class ProgressLogger(tf_keras.callbacks.Callback):
    """Logs step, examples/s, loss and learning rate every `every` steps."""

    def __init__(self, every, batch_size, writer=None, summary_every=0):
        super().__init__()
        self.every, self.batch_size = every, batch_size
        self.writer, self.summary_every = writer, summary_every
        self._last_step = self._last_log = self._last_time = None

    def on_train_begin(self, logs=None):
        self._last_step = self._last_log = global_step(self.model)
        self._last_time = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        if step - self._last_log < self.every and not (
                self.writer and step - self._last_step >= self.summary_every):
            return
        now = time.perf_counter()
        rate = (step - self._last_step) * self.batch_size / max(now - self._last_time, 1e-9)
        loss = float(_fetch(logs["loss"]))
        lr = optimizers.current_learning_rate(self.model.optimizer)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("learning_rate", lr)
                tf.summary.scalar("examples_per_second", rate)
        if step - self._last_log >= self.every:
            logging.info("step %d: loss %.5f, %.0f examples/s, learning rate %.3g", step, loss, rate, lr)
            self._last_log = step
        self.model.loss_tracker.reset_state()
        self._last_step, self._last_time = step, now


class CheckpointSaver(tf_keras.callbacks.Callback):
    """Saves through a CheckpointManager every `checkpoint_interval` steps."""

    def __init__(self, manager):
        super().__init__()
        self.manager = manager

    def on_train_batch_end(self, batch, logs=None):
        self.manager.save(checkpoint_number=self.model.optimizer.iterations, check_interval=True)


class StepCounter(tf_keras.callbacks.Callback):
    """Counts the training steps fit ran (`steps`), from the batch indices it reports."""

    def __init__(self):
        super().__init__()
        self.steps = None

    def on_train_batch_end(self, batch, logs=None):
        self.steps = batch + 1


class PeriodicEvaluator(tf_keras.callbacks.Callback):
    """Evaluates every `every` steps and calls `on_result(step, results)`."""

    def __init__(self, every, evaluate_fn, on_result):
        super().__init__()
        self.every, self.evaluate_fn, self.on_result = every, evaluate_fn, on_result
        self._last = None

    def on_train_begin(self, logs=None):
        self._last = global_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        if step - self._last >= self.every:
            self._last = step
            self.on_result(step, self.evaluate_fn())


def create_model(config, strategy):
    """Model, optimizer and checkpoint, inside the strategy scope."""
    train = config.train_config
    with strategy.scope(), precision_policy(train.mixed_precision):
        model = build_model(config)
        optimizer = optimizers.build_optimizer(train.optimizer)
        if train.mixed_precision == "mixed_float16":
            optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
        if train.jit_compile:
            model.enable_jit()
        model.compile(optimizer=optimizer, steps_per_execution=train.steps_per_execution)
        optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    return model, checkpoint


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
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial()
    return model


def global_step(model):
    """The optimizer's step count as an int (under any strategy)."""
    return int(model.optimizer.iterations.numpy())


def _fetch(value):
    """A parameter-server run's RemoteValue fetched; other values unchanged."""
    return value.fetch() if hasattr(value, "fetch") else value


def restore(checkpoint, path_or_dir):
    """Restores a checkpoint file or the latest in a directory; returns its path or None."""
    if tf.io.gfile.isdir(path_or_dir):
        path = tf.train.latest_checkpoint(path_or_dir)
    else:  # a checkpoint prefix such as model_dir/ckpt-469; a missing one restores nothing
        path = path_or_dir if tf.io.gfile.exists(path_or_dir + ".index") else None
    if path:
        checkpoint.restore(path).assert_existing_objects_matched()
    return path


def train_and_evaluate(config, model_dir):
    """Trains (resuming), evaluates and exports; returns the final metrics.

    In a cluster (docs/distributed.md) only the chief writes model_dir,
    evaluates and exports; other workers return None once training ends,
    and the worker and ps tasks of a parameter-server run serve until killed.
    """
    train = config.train_config
    if distribute.is_server_task(train):
        distribute.run_server()
        return None
    chief = distribute.is_chief()
    os.makedirs(model_dir, exist_ok=True)
    if chief:
        with open(os.path.join(model_dir, "pipeline.config"), "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(config))
    tf_keras.utils.set_random_seed(train.seed)
    strategy = distribute.build_strategy(train)
    multi_worker = distribute.is_multi_worker(strategy)
    model, checkpoint = create_model(config, strategy)
    # Every worker saves (a save may all-reduce), only the chief's land in model_dir.
    checkpoint_dir = distribute.write_dir(model_dir)
    manager = tf.train.CheckpointManager(
        checkpoint, checkpoint_dir, max_to_keep=train.keep_checkpoint_max,
        step_counter=model.optimizer.iterations, checkpoint_interval=train.save_checkpoints_steps)
    resumed = restore(checkpoint, model_dir)
    if resumed:
        logging.info("Resuming from %s at step %d.", resumed, global_step(model))
    step = global_step(model)
    eval_data = _eval_dataset(config)
    export_dir = export.default_export_dir(config, model_dir)
    eval_writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval")) if chief else None
    best = {"value": None}

    def report(at_step, results):
        _log_results(at_step, results)
        with eval_writer.as_default(step=at_step):
            for key, value in results.items():
                tf.summary.scalar(key, value)

    def on_eval(at_step, results):
        report(at_step, results)
        _maybe_export(model, config, export_dir, results, best, final=False)

    remaining = train.num_steps - step if train.num_steps else None
    if remaining is None or remaining > 0:
        dataset, steps_per_epoch = _train_input(config, strategy, step, remaining)
        callbacks = [
            ProgressLogger(train.log_step_count_steps, config.data_config.batch_size,
                           tf.summary.create_file_writer(os.path.join(model_dir, "train"))
                           if chief else None,
                           train.save_summary_steps),
            CheckpointSaver(manager),
        ]
        if config.eval_config.eval_interval_steps > 0 and multi_worker:
            logging.warning("eval_interval_steps is ignored in a multi-worker run: the chief "
                            "evaluates once training ends.")
        elif config.eval_config.eval_interval_steps > 0:
            callbacks.append(PeriodicEvaluator(
                config.eval_config.eval_interval_steps,
                lambda: evaluation.evaluate_model(model, eval_data(), config,
                                                  config.eval_config.num_eval_steps),
                on_eval))
        if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
            _fit_in_chunks(model, dataset, steps_per_epoch, callbacks, min(
                train.save_checkpoints_steps, train.log_step_count_steps, steps_per_epoch))
        else:
            counter = StepCounter()
            model.fit(dataset, epochs=1, steps_per_epoch=steps_per_epoch, verbose=0,
                      callbacks=callbacks + [counter])
            if steps_per_epoch is None and counter.steps is not None:
                # tf_keras counts one optimizer step too many when a dataset of unknown
                # length runs out; the step count must equal the batches trained on.
                model.optimizer.iterations.assign(step + counter.steps)
    step = global_step(model)
    # The final step, always, but only after training: in a multi-worker run every worker
    # must take the same decision (a save may all-reduce).
    trained = remaining is None or remaining > 0
    if trained and manager.latest_checkpoint != os.path.join(checkpoint_dir, f"ckpt-{step}"):
        manager.save(checkpoint_number=step, check_interval=False)
    if not chief:
        distribute.cleanup_write_dir(checkpoint_dir, model_dir)
        logging.info("Training done at step %d; the chief evaluates and exports.", step)
        return None
    if multi_worker or train.mixed_precision not in ("", "float32"):
        # Evaluate and export a float32 one-device copy: no collectives, no remote variables.
        model = single_device_model(config, manager.latest_checkpoint)
    results = evaluation.evaluate_model(model, eval_data(), config, config.eval_config.num_eval_steps)
    results["global_step"] = step
    report(step, results)
    evaluation.write_eval_result(model_dir, results)
    path = _maybe_export(model, config, export_dir, results, best, final=True)
    if path:
        logging.info("Exported the model to %s", path)
    return results


class EpochEndAdapter(tf_keras.callbacks.Callback):
    """Runs a batch-end callback at epoch ends (ParameterServerStrategy has no batch hooks)."""

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def on_train_begin(self, logs=None):
        self.callback.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        self.callback.on_train_batch_end(epoch, logs)


def _fit_in_chunks(model, dataset, steps, callbacks, chunk):
    """fit for exactly `steps` steps as "epochs" of `chunk` steps, callbacks at each end."""
    adapted = [EpochEndAdapter(c) for c in callbacks]
    chunk = max(chunk, 1)
    if steps // chunk:
        model.fit(dataset, epochs=steps // chunk, steps_per_epoch=chunk, verbose=0,
                  callbacks=adapted)
    if steps % chunk:
        model.fit(dataset, epochs=1, steps_per_epoch=steps % chunk, verbose=0, callbacks=adapted)


def epochs_steps(config):
    """Steps of train_config.num_epochs over the training files (counts their rows)."""
    rows = count_rows(config.data_config, config.train_input_path)
    return -(-rows * config.train_config.num_epochs // config.data_config.batch_size)


def _train_input(config, strategy, step, remaining):
    """(dataset or DatasetCreator, steps_per_epoch) for model.fit, resuming after `step`."""
    train = config.train_config

    def dataset_fn(input_context=None, num_epochs=train.num_epochs, seed=train.seed):
        # Each input pipeline feeds replicas_per_pipeline replicas per step.
        per_pipeline = 1 if input_context is None else max(
            input_context.num_replicas_in_sync // input_context.num_input_pipelines, 1)
        dataset = build_dataset(config.data_config, config.train_input_path, training=True,
                                num_epochs=num_epochs, seed=seed, input_context=input_context,
                                skip_batches=step * per_pipeline)
        return dataset.take(remaining * per_pipeline) if remaining else dataset

    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        # Workers read their shard without end (reshuffled after a restart); fit counts the steps.
        def ps_dataset_fn(input_context):
            return build_dataset(config.data_config, config.train_input_path, training=True,
                                 num_epochs=-1, seed=train.seed + step, input_context=input_context)
        return tf_keras.utils.experimental.DatasetCreator(ps_dataset_fn), remaining
    if not distribute.is_multi_worker(strategy):
        # One machine: fit splits each global batch over the local replicas.
        if remaining is None and train.steps_per_execution > 1:
            # fit needs the step count to run several steps per call: count the rows.
            remaining = max(epochs_steps(config) - step, 1)
        return dataset_fn(), remaining
    # Several workers: each reads its own shard (files, or rows when files are few).
    return strategy.distribute_datasets_from_function(dataset_fn), remaining


def _eval_dataset(config):
    batch = config.eval_config.batch_size or config.data_config.batch_size
    return lambda: build_dataset(config.data_config, config.eval_input_path, training=False,
                                 batch_size=batch)


def _log_results(step, results):
    text = ", ".join(f"{k} = {v:.5f}" if isinstance(v, float) else f"{k} = {v}"
                     for k, v in sorted(results.items()))
    logging.info("Evaluation at step %d: %s", step, text)


def _maybe_export(model, config, export_dir, results, best, final):
    """Applies the configured exporter (FINAL, LATEST, BEST); returns the path or None."""
    exporter = config.export_config
    kind = exporter.Exporter.Name(exporter.exporter)
    if kind == "BEST":
        value = results.get(exporter.metric)
        if value is None:
            return None
        better = best["value"] is None or (
            value > best["value"] if exporter.metric_larger_is_better else value < best["value"])
        if not better:
            return None
        best["value"] = value
    elif kind != "LATEST" and not final:
        return None
    return export.export_model(model, config, export_dir, keep=exporter.keep)
