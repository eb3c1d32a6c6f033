"""The evaluation metrics of evaluator.py, batch by batch, in bounded memory.

evaluator.evaluate_model keeps the predictions of up to
eval_config.max_in_memory_rows rows in memory and computes the metrics at once
(metrics.py); past that it hands every batch to a BoundedEvaluation, which
keeps sums and spills what an exact AUC, GAUC or top-k needs to sorted runs on
local disk (streaming.py). Both give the same numbers (tests/evaluation_bounded_test.py).
"""

from easyrank.evaluation import metrics as metrics_lib
from easyrank.evaluation import streaming
from easyrank.protos import model_pb2

Task = model_pb2.TaskConfig
_GROUP_OUTPUT = {Task.GAUC: 0, Task.PRECISION_AT_K: 1, Task.RECALL_AT_K: 2}


class BoundedEvaluation:
    """A sink for evaluator.feed_tasks that takes batches; results() at the end.

    Args:
      chunk_rows: rows each spill sorts in memory before it writes a run.
      directory: where the runs go (default: the system's temporary directory).
    """

    def __init__(self, chunk_rows, directory=None):
        self.chunk_rows, self.directory = chunk_rows, directory or None
        self.rows = 0
        self._metrics = {}  # result key -> accumulator, or (group key, output index)
        self._groups = {}   # (task, slice) -> [GroupSpill, batch it last took]
        self._counts, self._batch_counts = {}, {}
        self._batch = 0

    def start_batch(self, rows):
        self._flush_counts()
        self._batch += 1
        self.rows += rows

    def _flush_counts(self):
        for key, n in self._batch_counts.items():
            self._counts[key] = self._counts.get(key, 0) + n
        self._batch_counts = {}

    def count(self, key, n):
        self._batch_counts[key] = n  # the last count of a batch wins, as in memory

    def metric(self, key, metric, task, labels, scores, weights, groups, multiclass, group_key):
        if not multiclass and metric in _GROUP_OUTPUT:
            entry = self._groups.get(group_key)
            if entry is None:
                entry = self._groups[group_key] = [
                    streaming.GroupSpill(self.chunk_rows, task.top_k, self.directory), 0]
            self._metrics[key] = (group_key, _GROUP_OUTPUT[metric])
            if entry[1] != self._batch:  # GAUC and top k of a task share one spill
                entry[0].add(labels, scores, groups, weights)
                entry[1] = self._batch
            return
        accumulator = self._metrics.get(key)
        if accumulator is None:
            accumulator = self._metrics[key] = self._new(metric, multiclass)
        accumulator.add(labels, scores, weights)

    def _new(self, metric, multiclass):
        if multiclass:
            if metric == Task.AUC:
                return streaming.MulticlassAuc(self.chunk_rows, self.directory)
            fn = {Task.LOGLOSS: metrics_lib.multiclass_logloss_rows,
                  Task.ACCURACY: metrics_lib.multiclass_accuracy_rows}[metric]
            return streaming.WeightedMean(fn)
        if metric == Task.AUC:
            return streaming.AucSpill(self.chunk_rows, self.directory)
        if metric == Task.CALIBRATION:
            return streaming.CalibrationSums()
        if metric == Task.NORMALIZED_ENTROPY:
            return streaming.EntropySums(metrics_lib.logloss_rows)
        fn = {Task.LOGLOSS: metrics_lib.logloss_rows, Task.ACCURACY: metrics_lib.accuracy_rows,
              Task.MSE: metrics_lib.squared_error_rows,
              Task.MAE: metrics_lib.absolute_error_rows}[metric]
        return streaming.WeightedMean(fn)

    def results(self):
        """{"<task>/<metric>": value}; merges the spills (once) and deletes them."""
        self._flush_counts()
        results = dict(self._counts)
        grouped = {key: entry[0].result() for key, entry in self._groups.items()}
        for key, accumulator in self._metrics.items():
            if isinstance(accumulator, tuple):
                results[key] = float(grouped[accumulator[0]][accumulator[1]])
            else:
                results[key] = float(accumulator.result())
        return results

    def close(self):
        """Deletes the spilled runs (results() does too)."""
        for spill in self._spills():
            spill.close()

    def _spills(self):
        for entry in self._groups.values():
            yield entry[0].spill
        for accumulator in self._metrics.values():
            if isinstance(accumulator, streaming.AucSpill):
                yield accumulator.spill
            elif isinstance(accumulator, streaming.MulticlassAuc):
                yield from (a.spill for a in accumulator.classes or [])
