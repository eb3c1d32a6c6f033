"""Files through which the evaluator task and the workers talk, in model_dir.

STOP_FILE: written by the evaluator when early stopping fires ({"global_step",
"reason"}); StopFileWatcher stops the workers at their next check. DONE_FILE:
written by the chief after its final save ({"global_step"}); the evaluator
ends once it has evaluated that step. The chief removes both when training
starts, so an old run's decision does not stop a new one.
"""

import json
import logging
import os

import tensorflow as tf

from easyrank.training.callbacks import IntervalCallback

logger = logging.getLogger(__name__)

STOP_FILE = "STOP_TRAINING.json"
DONE_FILE = "TRAINING_DONE.json"


def read_json(path):
    """The JSON object at `path`, or None when it is missing or not (yet) complete."""
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.loads(f.read())
    except (tf.errors.NotFoundError, ValueError):
        return None


def write_json(path, value):
    """Writes `value` as JSON to `path` atomically (a temporary file, then a rename)."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        f.write(json.dumps(value, indent=2, sort_keys=True))
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def clear(model_dir):
    """Removes the STOP and DONE files of an earlier run."""
    for name in (STOP_FILE, DONE_FILE):
        path = os.path.join(model_dir, name)
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)


class StopFileWatcher(IntervalCallback):
    """Stops fit at the first multiple of `every` steps after the evaluator wrote STOP_FILE.

    The chief reads the file; under MultiWorkerMirroredStrategy its answer is
    summed over all workers (the others add 0), so every worker stops at the
    same step. Every worker must run this callback at the same steps.
    """

    def __init__(self, model_dir, every, chief, strategy=None):
        super().__init__(every)
        self.path = os.path.join(model_dir, STOP_FILE)
        self.chief, self.strategy = chief, strategy
        self.request = None

    def on_train_batch_end(self, batch, logs=None):
        step = self.due(batch)
        if step is None:
            return
        request = read_json(self.path) if self.chief else None
        flag = 1.0 if request is not None else 0.0
        if self.strategy is not None:
            flag = float(self.strategy.reduce(
                tf.distribute.ReduceOp.SUM, self.strategy.run(lambda: tf.constant(flag)), axis=None))
        if flag > 0:
            self.request = request or {}
            self.model.stop_training = True
            logger.info("Early stopping at step %d, asked by the evaluator: %s.", step,
                        self.request.get("reason", f"see {STOP_FILE} in model_dir"))
