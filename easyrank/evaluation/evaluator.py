"""Evaluation: one pass over the data, exact metrics per task."""

import json
import logging
import os

import numpy as np
import tensorflow as tf

from easyrank.data import build_dataset, row_checks
from easyrank.errors import DataError, eval_input_path_unset
from easyrank.evaluation import bounded
from easyrank.evaluation import metrics as metrics_lib
from easyrank.io import files
from easyrank.models.heads import prediction_key
from easyrank.models.inference import inference_function, trace_for
from easyrank.protos import model_pb2
from easyrank.protos.metric_names import metric_name

logger = logging.getLogger(__name__)
Task = model_pb2.TaskConfig
_METRICS = {
    Task.AUC: metrics_lib.auc,
    Task.LOGLOSS: metrics_lib.logloss,
    Task.ACCURACY: metrics_lib.accuracy,
    Task.MSE: metrics_lib.mse,
    Task.MAE: metrics_lib.mae,
    Task.CALIBRATION: metrics_lib.calibration,
    Task.NORMALIZED_ENTROPY: metrics_lib.normalized_entropy,
}
# Metrics computed within groups of task.group_field: fn(labels, scores, groups, weights, task).
_GROUP_METRICS = {
    Task.GAUC: lambda y, s, g, w, task: metrics_lib.gauc(y, s, g, w),
    Task.PRECISION_AT_K: lambda y, s, g, w, task: metrics_lib.precision_at_k(y, s, g, task.top_k),
    Task.RECALL_AT_K: lambda y, s, g, w, task: metrics_lib.recall_at_k(y, s, g, task.top_k),
}

_MULTICLASS_METRICS = {
    Task.AUC: metrics_lib.multiclass_auc,
    Task.LOGLOSS: metrics_lib.multiclass_logloss,
    Task.ACCURACY: metrics_lib.multiclass_accuracy,
}


def predict_batches(model, dataset, tasks, num_steps=0, extra_fields=(), first_batch=None, predict=None):
    """Runs the model over `dataset`; yields {key: np.ndarray} of a batch's predictions,
    labels and `extra_fields`.

    first_batch: a dict, filled with the first batch's features as NumPy arrays (the export's
    warmup rows come from them instead of a second read of the data, issue 23).
    predict: models.inference.inference_function(model), if the caller has it (the export
    then reuses its trace); else it is made here.
    """
    keys = sorted({prediction_key(t) for t in tasks} | {f"{t.name}/joint_probs" for t in tasks if t.esmm_parent})
    predict = predict or inference_function(model)
    if isinstance(dataset, tf.data.Dataset):
        trace_for(predict, dataset.element_spec[0])

    def step(features):
        outputs = predict(features)
        return {k: outputs[k] for k in keys}

    for i, (features, targets) in enumerate(dataset):
        if num_steps and i >= num_steps:
            break
        if first_batch is not None and i == 0:
            first_batch.update({k: v.numpy() for k, v in features.items()})
        batch = {k: v.numpy() for k, v in step(features).items()}
        batch.update({k: v.numpy() for k, v in targets.items()})
        batch.update({f: features[f].numpy() for f in extra_fields})
        yield batch


def collect_predictions(model, dataset, tasks, num_steps=0, extra_fields=()):
    """Runs the model over `dataset`; returns {key: np.ndarray} of predictions, labels, fields."""
    return _concatenate(list(predict_batches(model, dataset, tasks, num_steps, extra_fields)))


def _concatenate(batches):
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]} if batches else {}


def compute_metrics(tasks, collected, sample_weight_field=None):
    """{"<task>/<metric>": value} from collected arrays.

    A task's slices add "<task>/<metric>@<field>=<value>" computed on the rows
    whose `field` equals `value` (collected[field] must be present).
    """
    sink = _InMemory()
    feed_tasks(tasks, collected, sample_weight_field, sink)
    return sink.results


def feed_tasks(tasks, collected, sample_weight_field, sink):
    """Hands each task's (and slice's) rows of `collected` to `sink` (_InMemory or
    bounded.BoundedEvaluation, which takes them batch by batch)."""
    weights = collected.get(sample_weight_field) if sample_weight_field else None
    for task in tasks:
        _task_metrics(task, collected, weights, None, "", sink)
        for piece in task.slices:
            rows = slice_rows(collected[piece.field], piece.value)
            suffix = f"@{piece.field}={piece.value}"
            _task_metrics(task, collected, weights, rows, suffix, sink)


class _InMemory:
    """Computes each metric at once on all rows (metrics.py)."""

    def __init__(self):
        self.results = {}

    def count(self, key, n):
        self.results[key] = n

    def metric(self, key, metric, task, labels, scores, weights, groups, multiclass, group_key):
        del group_key
        if not len(labels):
            self.results[key] = float("nan")
        elif multiclass:
            self.results[key] = _MULTICLASS_METRICS[metric](labels, scores, weights)
        elif metric in _GROUP_METRICS:
            self.results[key] = _GROUP_METRICS[metric](labels, scores, groups, weights, task)
        else:
            self.results[key] = _METRICS[metric](labels, scores, weights)


def task_labels(task, collected):
    """The task's labels: the label field, binarized at label_threshold when set."""
    labels = collected[task.label]
    if task.HasField("label_threshold"):
        return (np.asarray(labels, np.float64) >= task.label_threshold).astype(np.float32)
    return labels


def task_rows(task, collected):
    """Boolean mask of the rows a task applies to (mask_field > 0.5, label not ignored), or None."""
    rows = None
    if task.mask_field:
        rows = np.asarray(collected[task.mask_field], np.float64) > 0.5
    if task.HasField("ignore_label_value"):
        kept = np.asarray(collected[task.label], np.float32) != np.float32(task.ignore_label_value)
        rows = kept if rows is None else rows & kept
    return rows


def _task_metrics(task, collected, weights, rows, suffix, sink):
    """The task's metrics on `rows` (a boolean mask, or None for all rows) and its own mask."""
    if task.sample_weight_field:
        weights = collected[task.sample_weight_field]
    if rows is not None:
        sink.count(f"{task.name}/num_examples{suffix}", int(rows.sum()))
    if task.esmm_parent and Task.AUC in task.metrics:  # the joint probability, on every row
        joint = collected[f"{task.name}/joint_probs"]
        pick = slice(None) if rows is None else rows
        sink.metric(f"{task.name}/joint_auc{suffix}", Task.AUC, task,
                    task_labels(task, collected)[pick], joint[pick],
                    None if weights is None else weights[pick], None, False, None)
    own = task_rows(task, collected)
    if own is not None:
        rows = own if rows is None else rows & own
        sink.count(f"{task.name}/num_examples{suffix}", int(rows.sum()))

    def take(values):
        return values if rows is None or values is None else values[rows]

    scores, labels = take(collected[prediction_key(task)]), take(task_labels(task, collected))
    weights = take(weights)
    multiclass = task.loss == Task.SOFTMAX_CROSS_ENTROPY
    for metric in task.metrics:
        grouped = not multiclass and metric in _GROUP_METRICS
        groups = take(collected[task.group_field]) if grouped else None
        sink.metric(f"{task.name}/{metric_name(metric, task)}{suffix}", metric, task,
                    labels, scores, weights, groups, multiclass, (task.name, suffix))
    return sink


def slice_rows(values, value):
    """Boolean mask of `values == value`; `value` is text, compared as a number for numbers."""
    values = np.asarray(values)
    if values.dtype.kind in "SO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values]) == value
    return values == float(value)


def extra_fields(config):
    """Input fields evaluation must collect besides predictions and labels."""
    tasks = config.model_config.tasks
    fields = {t.group_field for t in tasks if any(m in _GROUP_METRICS for m in t.metrics)}
    fields |= {piece.field for t in tasks for piece in t.slices}
    fields |= {name for t in tasks for name in (t.mask_field, t.sample_weight_field) if name}
    data = config.data_config
    return sorted(fields - set(data.label_fields) - {data.sample_weight_field})


def evaluate_model(model, dataset, config, num_steps=0, first_batch=None, predict=None,
                   require_learned=False):
    """Metrics of `model` on `dataset` for the tasks of `config` (or its retrieval metrics).

    Up to eval_config.max_in_memory_rows rows are evaluated in memory; more
    are evaluated batch by batch in bounded memory (bounded.py), exactly.
    first_batch, predict: see predict_batches. With `require_learned` (the evaluation before
    a run exports) a DataError for a task that learned nothing (check_learned).
    """
    if config.model_config.HasField("retrieval"):
        from easyrank.evaluation.retrieval_evaluator import evaluate_retrieval
        return evaluate_retrieval(model, dataset, config, num_steps)
    tasks = list(config.model_config.tasks)
    batches = predict_batches(model, dataset, tasks, num_steps, extra_fields=extra_fields(config),
                              first_batch=first_batch, predict=predict)
    return evaluate_batches(batches, config, require_learned)


def evaluate_batches(batches, config, require_learned=False):
    """Metrics of prediction batches (predict_batches) for the tasks of `config`; with
    `require_learned`, check_learned on the rows held in memory (all of them, or the first
    eval_config.max_in_memory_rows before the bounded path takes over)."""
    tasks = list(config.model_config.tasks)
    weight_field = config.data_config.sample_weight_field or None
    limit = config.eval_config.max_in_memory_rows
    held, rows, sink = [], 0, None
    try:
        for batch in batches:
            if sink is None:
                held.append(batch)
                rows += len(next(iter(batch.values())))
                if limit <= 0 or rows <= limit:
                    continue
                if require_learned:
                    check_learned(tasks, _concatenate(held))
                sink = bounded.BoundedEvaluation(limit, config.eval_config.spill_dir)
                batch_list, held = held, []
            else:
                batch_list = [batch]
            for one in batch_list:
                sink.start_batch(len(next(iter(one.values()))))
                feed_tasks(tasks, one, weight_field, sink)
        if sink is None:
            if not held:
                raise DataError(
                    f"the evaluation data {', '.join(config.eval_input_path)} has no rows"
                    + (" left after skipping bad rows" if config.data_config.skip_bad_rows else "")
                    + ": nothing to evaluate.")
            collected = _concatenate(held)
            if require_learned:
                check_learned(tasks, collected)
            results = compute_metrics(tasks, collected, weight_field)
        else:
            logger.info("Evaluated %d rows in bounded memory (more than eval_config."
                        "max_in_memory_rows = %d).", sink.rows, limit)
            rows, results = sink.rows, sink.results()
    finally:
        if sink is not None:
            sink.close()
    results["num_examples"] = int(rows)
    return results


def check_learned(tasks, collected):
    """DataError for a task evaluated on no rows (every row outside its mask) or whose
    predictions are one constant over two or more rows: such a model must not be exported."""
    for task in tasks:
        rows = task_rows(task, collected)
        scores = collected[prediction_key(task)]
        if rows is not None:
            if not rows.any():
                raise DataError(
                    f"task {task.name!r} was evaluated on no rows: every evaluation row is outside "
                    "its mask (mask_field, ignore_label_value or its ESMM parent's label), so its "
                    "metrics are undefined; nothing is exported. Check the task's labels and mask.")
            scores = scores[rows]
        if len(scores) > 1 and np.all(scores == scores[:1]):
            raise DataError(
                f"task {task.name!r} predicts the same value ({np.ravel(scores[:1])[0]:.6g}) for "
                f"all {len(scores):,} evaluation rows: the model learned nothing (a learning rate "
                "far too high or too low, a loss that is 0 for this data, or features that do not "
                "vary); nothing is exported and model_dir keeps its checkpoints.")


def eval_dataset(config):
    """The evaluation input of `config`: eval_input_path in eval_config.batch_size batches."""
    if not config.eval_input_path:
        raise eval_input_path_unset()
    batch = config.eval_config.batch_size or config.data_config.batch_size
    return build_dataset(config.data_config, config.eval_input_path, training=False, batch_size=batch,
                         binary_labels=row_checks(config))


def evaluate_config(model, config):
    """Metrics of `model` on the config's evaluation input, with its `global_step`."""
    results = evaluate_model(model, eval_dataset(config), config, config.eval_config.num_eval_steps)
    results["global_step"] = int(model.optimizer.iterations.numpy())
    return results


def write_eval_result(model_dir, results, filename="eval_result.json"):
    """Writes the flat metrics JSON atomically; returns its path."""
    files.makedirs(model_dir)
    path = os.path.join(model_dir, filename)
    clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in results.items()}
    files.write_text(path, json.dumps(clean, indent=2, sort_keys=True))
    return path
