"""When a training run exports: the FINAL, LATEST and BEST exporters of export_config.

An exporter is told of every evaluation during training (`after_evaluation`)
and of the final one (`at_end`); it decides whether that model is written as
a new version under export_dir and returns the version's path, or None.
"""

import os

from easyrank.protos import export_pb2
from easyrank.serving.saved_model import export_model


def default_export_dir(config, model_dir):
    """export_config.export_dir, or <model_dir>/export."""
    return config.export_config.export_dir or os.path.join(model_dir, "export")


class FinalExporter:
    """Exports once, after the final evaluation."""

    def __init__(self, config, export_dir):
        self.config, self.export_dir = config, export_dir

    def after_evaluation(self, model, results):
        del model, results
        return None

    def at_end(self, model, results):
        del results
        return self._export(model)

    def _export(self, model):
        if self.config.model_config.HasField("retrieval"):
            from easyrank.serving.retrieval_export import export_retrieval
            return export_retrieval(model, self.config, self.export_dir,
                                    keep=self.config.export_config.keep)
        return export_model(model, self.config, self.export_dir,
                            keep=self.config.export_config.keep)


class LatestExporter(FinalExporter):
    """Exports after every evaluation, during training and at the end."""

    def after_evaluation(self, model, results):
        del results
        return self._export(model)


class BestExporter(FinalExporter):
    """Exports when export_config.metric improves on the best value of this run."""

    def __init__(self, config, export_dir):
        super().__init__(config, export_dir)
        self.best = None

    def after_evaluation(self, model, results):
        spec = self.config.export_config
        value = results.get(spec.metric)
        if value is None:
            return None
        better = self.best is None or (
            value > self.best if spec.metric_larger_is_better else value < self.best)
        if not better:
            return None
        self.best = value
        return self._export(model)

    at_end = after_evaluation


_EXPORTERS = {
    export_pb2.ExportConfig.FINAL: FinalExporter,
    export_pb2.ExportConfig.LATEST: LatestExporter,
    export_pb2.ExportConfig.BEST: BestExporter,
}


def build_exporter(config, export_dir):
    """The exporter export_config.exporter names."""
    return _EXPORTERS[config.export_config.exporter](config, export_dir)
