"""Evaluation: one pass over the data, exact metrics per task."""

import json
import os

import numpy as np
import tensorflow as tf

from easyrank.data import binary_labels, build_dataset
from easyrank.errors import ConfigError, DataError
from easyrank.evaluation import metrics as metrics_lib
from easyrank.models.heads import prediction_key
from easyrank.protos import model_pb2

Task = model_pb2.TaskConfig
_METRICS = {
    Task.AUC: ("auc", metrics_lib.auc),
    Task.LOGLOSS: ("logloss", metrics_lib.logloss),
    Task.ACCURACY: ("accuracy", metrics_lib.accuracy),
    Task.MSE: ("mse", metrics_lib.mse),
    Task.MAE: ("mae", metrics_lib.mae),
    Task.CALIBRATION: ("calibration", metrics_lib.calibration),
    Task.NORMALIZED_ENTROPY: ("ne", metrics_lib.normalized_entropy),
}
# Metrics computed within groups of task.group_field: name(task) and fn(labels, scores, groups, weights, task).
_GROUP_METRICS = {
    Task.GAUC: (lambda task: "gauc", lambda y, s, g, w, task: metrics_lib.gauc(y, s, g, w)),
    Task.PRECISION_AT_K: (lambda task: f"precision@{task.top_k}",
                          lambda y, s, g, w, task: metrics_lib.precision_at_k(y, s, g, task.top_k)),
    Task.RECALL_AT_K: (lambda task: f"recall@{task.top_k}",
                       lambda y, s, g, w, task: metrics_lib.recall_at_k(y, s, g, task.top_k)),
}


_MULTICLASS_METRICS = {
    Task.AUC: ("auc", metrics_lib.multiclass_auc),
    Task.LOGLOSS: ("logloss", metrics_lib.multiclass_logloss),
    Task.ACCURACY: ("accuracy", metrics_lib.multiclass_accuracy),
}


def collect_predictions(model, dataset, tasks, num_steps=0, extra_fields=()):
    """Runs the model over `dataset`; returns {key: np.ndarray} of predictions, labels, fields."""
    keys = sorted({prediction_key(t) for t in tasks} | {f"{t.name}/joint_probs" for t in tasks if t.esmm_parent})

    @tf.function
    def step(features):
        outputs = model(features, training=False)
        return {k: outputs[k] for k in keys}

    collected = {}
    for i, (features, targets) in enumerate(dataset):
        if num_steps and i >= num_steps:
            break
        batch = {k: v.numpy() for k, v in step(features).items()}
        batch.update({k: v.numpy() for k, v in targets.items()})
        batch.update({f: features[f].numpy() for f in extra_fields})
        for k, v in batch.items():
            collected.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in collected.items()}


def compute_metrics(tasks, collected, sample_weight_field=None):
    """{"<task>/<metric>": value} from collected arrays.

    A task's slices add "<task>/<metric>@<field>=<value>" computed on the rows
    whose `field` equals `value` (collected[field] must be present).
    """
    weights = collected.get(sample_weight_field) if sample_weight_field else None
    results = {}
    for task in tasks:
        results.update(_task_metrics(task, collected, weights, None, ""))
        for piece in task.slices:
            rows = slice_rows(collected[piece.field], piece.value)
            suffix = f"@{piece.field}={piece.value}"
            results.update(_task_metrics(task, collected, weights, rows, suffix))
    return results


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


def _task_metrics(task, collected, weights, rows, suffix):
    """The task's metrics on `rows` (a boolean mask, or None for all rows) and its own mask."""
    if task.sample_weight_field:
        weights = collected[task.sample_weight_field]
    results = {}
    if rows is not None:
        results[f"{task.name}/num_examples{suffix}"] = int(rows.sum())
    if task.esmm_parent and Task.AUC in task.metrics:  # the joint probability, on every row
        joint = collected[f"{task.name}/joint_probs"]
        pick = slice(None) if rows is None else rows
        results[f"{task.name}/joint_auc{suffix}"] = metrics_lib.auc(
            task_labels(task, collected)[pick], joint[pick], None if weights is None else weights[pick])
    own = task_rows(task, collected)
    if own is not None:
        rows = own if rows is None else rows & own
        results[f"{task.name}/num_examples{suffix}"] = int(rows.sum())

    def take(values):
        return values if rows is None or values is None else values[rows]

    scores, labels = take(collected[prediction_key(task)]), take(task_labels(task, collected))
    weights = take(weights)
    multiclass = task.loss == Task.SOFTMAX_CROSS_ENTROPY
    for metric in task.metrics:
        if rows is not None and not rows.any():
            results[f"{task.name}/{_metric_name(metric, task)}{suffix}"] = float("nan")
        elif multiclass:
            name, fn = _MULTICLASS_METRICS[metric]
            results[f"{task.name}/{name}{suffix}"] = fn(labels, scores, weights)
        elif metric in _GROUP_METRICS:
            name, fn = _GROUP_METRICS[metric]
            groups = take(collected[task.group_field])
            results[f"{task.name}/{name(task)}{suffix}"] = fn(labels, scores, groups, weights, task)
        else:
            name, fn = _METRICS[metric]
            results[f"{task.name}/{name}{suffix}"] = fn(labels, scores, weights)
    return results


def _metric_name(metric, task):
    return _GROUP_METRICS[metric][0](task) if metric in _GROUP_METRICS else _METRICS[metric][0]


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


def evaluate_model(model, dataset, config, num_steps=0, require_learned=False):
    """Metrics of `model` on `dataset` for the tasks of `config`; with `require_learned` (the
    evaluation before a run exports) a DataError for a task that learned nothing
    (check_learned)."""
    tasks = list(config.model_config.tasks)
    collected = collect_predictions(model, dataset, tasks, num_steps,
                                    extra_fields=extra_fields(config))
    if not collected:
        raise DataError(f"the evaluation data {', '.join(config.eval_input_path)} has no rows"
                        + (" left after skipping bad rows" if config.data_config.skip_bad_rows else "")
                        + ": nothing to evaluate.")
    if require_learned:
        check_learned(tasks, collected)
    results = compute_metrics(tasks, collected, config.data_config.sample_weight_field or None)
    results["num_examples"] = int(len(next(iter(collected.values()))))
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
        raise ConfigError("is not set: a run ends with an evaluation (eval_result.json, the "
                          "exporters' metrics); set it to held-out data (or, to only check that "
                          "training runs, to the training data).", path="eval_input_path")
    batch = config.eval_config.batch_size or config.data_config.batch_size
    return build_dataset(config.data_config, config.eval_input_path, training=False, batch_size=batch,
                         binary_labels=binary_labels(config.model_config))


def evaluate_config(model, config):
    """Metrics of `model` on the config's evaluation input, with its `global_step`."""
    results = evaluate_model(model, eval_dataset(config), config, config.eval_config.num_eval_steps)
    results["global_step"] = int(model.optimizer.iterations.numpy())
    return results


def write_eval_result(model_dir, results, filename="eval_result.json"):
    """Writes the flat metrics JSON atomically; returns its path."""
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, filename)
    clean = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in results.items()}
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(clean, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path
