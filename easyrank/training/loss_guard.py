"""Stops training at the first non-finite loss, before it reaches a checkpoint or an export.

The loss in fit's logs is the loss tracker's running mean since ProgressLogger
last reset it, so once one step's loss is nan or inf the mean stays so until
the next reset. LossGuard runs first among the callbacks and reads that mean
at every step where another callback acts (a log or summary, which resets the
mean, or a checkpoint save), so every poisoned step is seen before its state
is saved; between those steps it reads nothing and training never waits for
the device (the same schedule as easyrank/training/callbacks.py). In a
multi-worker run every worker reads at the same steps; the first worker to
see a non-finite loss stops, and the others stop as their peer is gone.
"""

import math

from easyrank.errors import DataError
from easyrank.training.callbacks import IntervalCallback


class NonFiniteLoss(DataError):
    """The training loss became nan or inf by `step`; nothing after it is saved."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class LossGuard(IntervalCallback):
    """Raises NonFiniteLoss at the first check whose loss is not finite.

    Args:
      intervals: the step intervals at which other callbacks act (log,
        summary and checkpoint intervals); the loss is read at each of them.
    """

    def __init__(self, intervals):
        super().__init__(*intervals)
        self._last_good = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._last_good = self.start

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        step = self.due(batch)
        if step is None:
            return
        value = logs["loss"]
        loss = float(value.fetch() if hasattr(value, "fetch") else value)
        if math.isfinite(loss):
            self._last_good = step
            return
        where = f"at step {step}" if step - self._last_good <= 1 else \
            f"between steps {self._last_good + 1} and {step}"
        raise NonFiniteLoss(
            f"the training loss became {loss} {where}, so training stopped: nothing from that "
            "step on was saved or exported, and model_dir keeps its last good checkpoint. "
            "Usual causes: a learning rate too high for the model (lower it or set "
            "train_config.optimizer.clip_norm), or extreme feature values (normalize them).", step)
