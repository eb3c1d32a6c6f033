"""Before training: a ranking loss must find groups in its batches (issue 29).

PAIRWISE_LOGISTIC and LISTWISE_SOFTMAX compare the rows of a group (task.group_field) within
one batch. When every group of a batch has one row (or, for the pairwise loss, one label),
the loss is 0 and nothing is learned; the run would end with exit 0 and a model as it was
initialised. The first batches of the training input, read as training reads them (same
order, shuffle and seed), are checked for a group the loss can use; none is a data error.
Other losses cost nothing: the input is read only for a task with a ranking loss.
"""

import numpy as np

from easyrank.data.dataset import build_dataset, list_files, row_checks
from easyrank.errors import DataError
from easyrank.protos import model_pb2

_Task = model_pb2.TaskConfig
_RANKING = (_Task.PAIRWISE_LOGISTIC, _Task.LISTWISE_SOFTMAX)
BATCHES = 8  # batches read; a loss that finds no group in them is taken as one that never does


def check_groups(config, batches=BATCHES):
    """DataError when no ranking task finds a usable group in the first `batches` batches."""
    tasks = [t for t in config.model_config.tasks if t.loss in _RANKING]
    if not tasks:
        return
    train = config.train_config
    dataset = build_dataset(config.data_config, config.train_input_path, training=True,
                            num_epochs=1, seed=train.seed,
                            binary_labels=row_checks(config))
    useless, rows, read = list(tasks), 0, 0
    for features, targets in dataset.take(batches):
        rows, read = rows + int(next(iter(targets.values())).shape[0]), read + 1
        useless = [t for t in useless if not _has_group(t, features, targets)]
        if not useless:
            return
    task = useless[0]
    loss = _Task.Loss.Name(task.loss)
    what = "one row or rows of one label" if task.loss == _Task.PAIRWISE_LOGISTIC else "one row"
    files = list_files(config.train_input_path)
    named = ", ".join(files[:3]) + (f" and {len(files) - 3} more files" if len(files) > 3 else "")
    shuffle = " and set data_config.shuffle to false" if config.data_config.shuffle else ""
    raise DataError(
        f"{named}: in the first {rows} rows of the training input ({read} batches as training "
        f"reads them), every group of group_field {task.group_field!r} in a batch has "
        f"{what}, so the {loss} loss of task {task.name!r} is 0 at every step and the model "
        "cannot learn. The loss compares the rows of a group within one batch: give each group "
        f"several rows with different labels, keep a group's rows next to each other in the "
        f"file{shuffle} (or use a pointwise loss such as BINARY_CROSS_ENTROPY).")


def _has_group(task, features, targets):
    """Whether the loss of `task` has a pair (pairwise) or a group of 2+ rows with a positive
    label (listwise) in this batch."""
    groups = (targets if task.group_field in targets else features)[task.group_field].numpy()
    labels = targets[task.label].numpy().astype(np.float64)
    if task.HasField("label_threshold"):
        labels = (labels >= task.label_threshold).astype(np.float64)
    _, group_ids, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if task.loss == _Task.LISTWISE_SOFTMAX:
        positive = np.bincount(group_ids, weights=labels, minlength=len(sizes)) > 0
        return bool(np.any((sizes > 1) & positive))
    lowest = np.full(len(sizes), np.inf)
    highest = np.full(len(sizes), -np.inf)
    np.minimum.at(lowest, group_ids, labels)
    np.maximum.at(highest, group_ids, labels)
    return bool(np.any(highest > lowest))
