"""When a training run exports: the FINAL, LATEST, BEST and NONE exporters of export_config.

An exporter is told of every evaluation during training (`after_evaluation`)
and of the final one (`at_end`); it decides whether that model is written as
a new version under export_dir and returns the version's path, or None.
`warmup_rows` are the evaluation's first rows ({feature: NumPy array}) and `predict`
its models.inference.inference_function when the caller has them: the export
writes its warmup records from those rows and its signatures call that function,
without reading the data or tracing the model again.
"""

import os

from easyrank.protos import export_pb2
from easyrank.serving.saved_model import export_model


def default_export_dir(config, model_dir):
    """export_config.export_dir, or <model_dir>/export."""
    return config.export_config.export_dir or os.path.join(model_dir, "export")


def exports(config):
    """Whether training writes exports at all (every exporter but NONE)."""
    return config.export_config.exporter != export_pb2.ExportConfig.NONE


class FinalExporter:
    """Exports once, after the final evaluation."""

    def __init__(self, config, export_dir):
        self.config, self.export_dir = config, export_dir

    def after_evaluation(self, model, results, warmup_rows=None, predict=None):
        del model, results, warmup_rows, predict
        return None

    def at_end(self, model, results, warmup_rows=None, predict=None):
        del results
        return self._export(model, warmup_rows, predict)

    def _export(self, model, warmup_rows=None, predict=None):
        if self.config.model_config.HasField("retrieval"):
            from easyrank.serving.retrieval_export import export_retrieval
            return export_retrieval(model, self.config, self.export_dir,
                                    keep=self.config.export_config.keep)
        return export_model(model, self.config, self.export_dir,
                            keep=self.config.export_config.keep, warmup_rows=warmup_rows)


class LatestExporter(FinalExporter):
    """Exports after every evaluation, during training and at the end."""

    def after_evaluation(self, model, results, warmup_rows=None, predict=None):
        del results
        return self._export(model, warmup_rows, predict)


class BestExporter(FinalExporter):
    """Exports when export_config.metric improves on the best value of this run."""

    def __init__(self, config, export_dir):
        super().__init__(config, export_dir)
        self.best = None

    def after_evaluation(self, model, results, warmup_rows=None, predict=None):
        spec = self.config.export_config
        value = results.get(spec.metric)
        if value is None:
            return None
        better = self.best is None or (
            value > self.best if spec.metric_larger_is_better else value < self.best)
        if not better:
            return None
        self.best = value
        return self._export(model, warmup_rows, predict)

    at_end = after_evaluation


class NoExporter(FinalExporter):
    """Exports nothing (exporter NONE)."""

    def at_end(self, model, results, warmup_rows=None, predict=None):
        del model, results, warmup_rows, predict
        return None


_EXPORTERS = {
    export_pb2.ExportConfig.FINAL: FinalExporter,
    export_pb2.ExportConfig.LATEST: LatestExporter,
    export_pb2.ExportConfig.BEST: BestExporter,
    export_pb2.ExportConfig.NONE: NoExporter,
}


def build_exporter(config, export_dir):
    """The exporter export_config.exporter names."""
    return _EXPORTERS[config.export_config.exporter](config, export_dir)
