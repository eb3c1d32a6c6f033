"""Keras callbacks of the train loop: progress, checkpoints, periodic evaluation.

They run at every batch end but act only at their intervals, and they know the
global step from fit's batch index (the step variable is read once, when fit
begins), so training never waits for the device between intervals. They take
fit's logs as tensors (`_supports_tf_logs`): tf_keras would otherwise convert
the logs to NumPy, a device sync, at every step.

In a multi-worker run every worker acts at the same steps and runs the same
ops (loss fetch, metric reset); only the chief writes. A fetch or reset on some
workers and not others would put the collectives out of step (issue 19.4).
"""

import logging
import time

import tensorflow as tf
import tf_keras

from easyrank.training import optimizers
from easyrank.training.model_state import global_step

logger = logging.getLogger(__name__)


class StepCallback(tf_keras.callbacks.Callback):
    """Base: `step(batch)` is the global step after fit's batch `batch`, without a device read."""

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True
        self.start = 0

    def on_train_begin(self, logs=None):
        self.start = global_step(self.model)

    def step(self, batch):
        # With steps_per_execution k, tf_keras reports the last batch index of each call.
        return self.start + batch + 1


def next_multiple(step, every):
    """The first multiple of `every` after `step` (every <= 0: never)."""
    return (step // every + 1) * every if every > 0 else float("inf")


class IntervalCallback(StepCallback):
    """Base: `due(batch)` is the global step when it reaches a multiple of any of
    `intervals` (those <= 0 never come), else None."""

    def __init__(self, *intervals):
        super().__init__()
        self.intervals = [every for every in intervals if every > 0]
        self._next = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._next = self._due_after(self.start)

    def _due_after(self, step):
        return min([next_multiple(step, every) for every in self.intervals] or [float("inf")])

    def due(self, batch):
        step = self.step(batch)
        if step < self._next:
            return None
        self._next = self._due_after(step)
        return step


class ProgressLogger(IntervalCallback):
    """Logs step (of total), loss, examples/s and time left every `every` steps.

    With a writer it also writes loss, learning rate and examples/s summaries every
    `summary_every` steps. The logged loss is the mean since the previous action.
    """

    def __init__(self, every, batch_size, writer=None, summary_every=0, total_steps=None):
        # Summaries are due on every worker, writer or not: all workers run the same ops.
        super().__init__(every, summary_every)
        self.every, self.batch_size = every, batch_size
        self.writer, self.summary_every = writer, summary_every
        self.total_steps = total_steps
        self._last_step = self._last_time = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._last_step, self._last_time = self.start, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = self.due(batch)
        if step is None:
            return
        loss = float(_fetch(logs["loss"]))  # waits for the step: the rate below is measured
        now = time.perf_counter()
        rate = (step - self._last_step) * self.batch_size / max(now - self._last_time, 1e-9)
        lr = optimizers.current_learning_rate(self.model.optimizer)
        if self.writer is not None and next_multiple(self._last_step, self.summary_every) <= step:
            with self.writer.as_default(step=step):
                tf.summary.scalar("loss", loss)
                tf.summary.scalar("learning_rate", lr)
                tf.summary.scalar("examples_per_second", rate)
        if next_multiple(self._last_step, self.every) <= step:
            logger.info("%s: loss %.5f, %s examples/s, learning rate %.3g%s", self._of_total(step),
                        loss, f"{rate:,.0f}", lr, self._time_left(step, rate))
        self.model.loss_tracker.reset_state()
        self._last_step, self._last_time = step, now

    def _of_total(self, step):
        if not self.total_steps:
            return f"step {step}"
        return f"step {step}/{self.total_steps} ({100 * step // self.total_steps}%)"

    def _time_left(self, step, rate):
        if not self.total_steps or step >= self.total_steps or rate <= 0:
            return ""
        seconds = round((self.total_steps - step) * self.batch_size / rate)
        return f", {seconds // 60}:{seconds % 60:02d} left"


class DynamicTableLogger(IntervalCallback):
    """Writes each dynamic table's occupancy, admissions, evictions and (LFU) the look-up
    counts of its rows to TensorBoard at every multiple of `every` steps (issue 18)."""

    def __init__(self, tables, writer, every):
        super().__init__(every)
        self.tables, self.writer = tables, writer

    def on_train_batch_end(self, batch, logs=None):
        step = self.due(batch)
        if step is None:
            return
        with self.writer.as_default(step=step):
            for name, rows in sorted(self.tables.items()):
                for key, value in rows.stats().items():
                    if key == "row_counts":
                        tf.summary.histogram(f"dynamic/{name}/row_counts", value)
                    else:
                        tf.summary.scalar(f"dynamic/{name}/{key}", value)


class CheckpointSaver(IntervalCallback):
    """Saves through a CheckpointManager at every multiple of `every` steps."""

    def __init__(self, manager, every):
        super().__init__(every)
        self.manager = manager

    def on_train_batch_end(self, batch, logs=None):
        step = self.due(batch)
        if step is not None:
            self.manager.save(checkpoint_number=step, check_interval=False)


class StepCounter(tf_keras.callbacks.Callback):
    """Counts the training steps fit ran (`steps`), from the batch indices it reports."""

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True
        self.steps = None

    def on_train_batch_end(self, batch, logs=None):
        self.steps = batch + 1


class PeriodicEvaluator(IntervalCallback):
    """Evaluates at every multiple of `every` steps and calls `on_result(step, results)`."""

    def __init__(self, every, evaluate_fn, on_result):
        super().__init__(every)
        self.evaluate_fn, self.on_result = evaluate_fn, on_result

    def on_train_batch_end(self, batch, logs=None):
        step = self.due(batch)
        if step is not None:
            self.on_result(step, self.evaluate_fn())


class EpochEndAdapter(tf_keras.callbacks.Callback):
    """Runs a batch-end callback at epoch ends (ParameterServerStrategy has no batch hooks).

    fit's epochs are chunks of `params["steps"]` steps; the callback is told the
    batch index of the chunk's last step, counted from the start of this fit call.
    """

    def __init__(self, callback):
        super().__init__()
        self._supports_tf_logs = True
        self.callback = callback
        self._done = 0

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def on_train_begin(self, logs=None):
        self._done = 0
        self.callback.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._done += self.params["steps"]
        self.callback.on_train_batch_end(self._done - 1, logs)


def _fetch(value):
    """A parameter-server run's RemoteValue fetched; other values unchanged."""
    return value.fetch() if hasattr(value, "fetch") else value
