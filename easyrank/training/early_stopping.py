"""Early stopping: end training when an evaluation metric stops improving.

train_config.early_stopping names a metric of the periodic evaluations
(eval_config.eval_interval_steps); after `patience` evaluations in a row
without an improvement by more than `min_delta` the loop sets
model.stop_training, logs the reason and adds it to eval_result.json.
"""

import logging

from easyrank.errors import ConfigError
from easyrank.protos.metric_names import metric_keys
from easyrank.training import strategies

logger = logging.getLogger(__name__)

_PATH = "train_config.early_stopping"


def build(config):
    """The EarlyStopper of the config, or None when early stopping is off."""
    train = config.train_config
    if not train.HasField("early_stopping"):
        return None
    spec = train.early_stopping
    metric = spec.metric or config.export_config.metric
    if not metric:
        raise ConfigError('early_stopping needs a metric, e.g. metric: "income/auc" (or '
                          "export_config.metric).", path=_PATH + ".metric")
    known = metric_keys(config.model_config.tasks)
    if metric not in known:
        raise ConfigError(f"metric {metric!r} is not computed by the evaluation; choose one of "
                          f"{', '.join(sorted(known))}.", path=_PATH + ".metric")
    if spec.patience < 1:
        raise ConfigError(f"patience must be >= 1. Received: {spec.patience}.",
                          path=_PATH + ".patience")
    if spec.min_delta < 0:
        raise ConfigError(f"min_delta must be >= 0. Received: {spec.min_delta}.",
                          path=_PATH + ".min_delta")
    if config.eval_config.eval_interval_steps <= 0 and not strategies.has_evaluator():
        raise ConfigError("early stopping needs evaluations during training: set "
                          "eval_config.eval_interval_steps > 0, or add an evaluator task "
                          "(docs/distributed.md).", path=_PATH)
    larger = spec.metric_larger_is_better
    if not spec.metric and not spec.HasField("metric_larger_is_better"):
        larger = config.export_config.metric_larger_is_better
    return EarlyStopper(metric, larger, spec.patience, spec.min_delta)


class EarlyStopper:
    """Tracks the best value of `metric`; update() says when to stop.

    Args:
      metric: the key of the evaluation results to watch.
      larger_is_better: the direction of improvement.
      patience: evaluations without improvement before stopping.
      min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, metric, larger_is_better, patience, min_delta):
        self.metric, self.larger_is_better = metric, larger_is_better
        self.patience, self.min_delta = patience, min_delta
        self.best = self.best_step = self.stopped_step = None
        self.waited = 0
        self.reason = ""

    def update(self, step, results):
        """Records an evaluation at `step`; returns True when training should stop."""
        value = results.get(self.metric)
        if value is None:
            raise ConfigError(f"the evaluation has no metric {self.metric!r}; it has "
                              f"{', '.join(sorted(results))}.", path=_PATH + ".metric")
        gain = (value - self.best if self.larger_is_better else self.best - value) \
            if self.best is not None else None
        if gain is None or gain > self.min_delta:
            self.best, self.best_step, self.waited = value, step, 0
            return False
        self.waited += 1
        if self.waited < self.patience:
            return False
        self.stopped_step = step
        self.reason = (f"{self.metric} did not improve by more than {self.min_delta:g} in "
                       f"{self.patience} evaluation(s) after its best value {self.best:.6g} at "
                       f"step {self.best_step}")
        logger.info("Early stopping at step %d: %s.", step, self.reason)
        return True

    def summary(self):
        """The "early_stopping/..." entries of eval_result.json."""
        if self.stopped_step is None:
            return {}
        return {"early_stopping/stopped_at_step": self.stopped_step,
                "early_stopping/best_step": self.best_step,
                "early_stopping/best_value": float(self.best),
                "early_stopping/reason": self.reason}
