"""Keras callbacks of the train loop: progress, checkpoints, periodic evaluation."""

import time

import tensorflow as tf
import tf_keras
from absl import logging

from easyrank.training import optimizers
from easyrank.training.model_state import global_step


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


class DynamicTableLogger(tf_keras.callbacks.Callback):
    """Writes each dynamic table's occupancy, admissions, evictions and (LFU) the look-up
    counts of its rows to TensorBoard every `every` steps (issue 18)."""

    def __init__(self, tables, writer, every):
        super().__init__()
        self.tables, self.writer, self.every = tables, writer, every
        self._last = None

    def on_train_begin(self, logs=None):
        self._last = global_step(self.model)

    def on_train_batch_end(self, batch, logs=None):
        step = global_step(self.model)
        if step - self._last < self.every:
            return
        self._last = step
        with self.writer.as_default(step=step):
            for name, rows in sorted(self.tables.items()):
                for key, value in rows.stats().items():
                    if key == "row_counts":
                        tf.summary.histogram(f"dynamic/{name}/row_counts", value)
                    else:
                        tf.summary.scalar(f"dynamic/{name}/{key}", value)


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


def _fetch(value):
    """A parameter-server run's RemoteValue fetched; other values unchanged."""
    return value.fetch() if hasattr(value, "fetch") else value
