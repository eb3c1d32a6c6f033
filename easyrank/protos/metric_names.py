"""The names evaluation gives TaskConfig's metrics: the keys of eval_result.json.

One definition for the evaluator (easyrank/evaluation/evaluator.py), the
config checks (export_config.metric) and early stopping, which every layer of
the package may import.
"""

from easyrank.protos import model_pb2

Task = model_pb2.TaskConfig


def metric_name(metric, task):
    """The name of `metric` (a TaskConfig.Metric) of `task`: "auc", "ne", "precision@5"..."""
    special = {Task.NORMALIZED_ENTROPY: "ne", Task.PRECISION_AT_K: f"precision@{task.top_k}",
               Task.RECALL_AT_K: f"recall@{task.top_k}"}
    return special.get(metric, Task.Metric.Name(metric).lower())


def metric_keys(tasks):
    """The keys evaluation reports for `tasks` ("<task>/<metric>[@<field>=<value>]")."""
    keys = {"num_examples"}
    for task in tasks:
        names = [metric_name(m, task) for m in task.metrics]
        if task.esmm_parent and Task.AUC in task.metrics:
            names.append("joint_auc")
        suffixes = [""] + [f"@{piece.field}={piece.value}" for piece in task.slices]
        keys |= {f"{task.name}/num_examples{s}" for s in suffixes}
        keys |= {f"{task.name}/{n}{s}" for n in names for s in suffixes}
    return keys
