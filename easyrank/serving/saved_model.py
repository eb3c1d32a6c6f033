"""Atomic, versioned SavedModel export: <export_dir>/<version>/, the layout TF Serving watches.

The model is written to a temporary directory inside export_dir and renamed
only when complete; version numbers are Unix seconds and only grow. The
signatures are described in easyrank/serving/signatures.py.
"""

import logging
import os
import shutil
import time

import tensorflow as tf
from google.protobuf import text_format

from easyrank.errors import DataError
from easyrank.protos import pipeline_pb2
from easyrank.serving import deployment, warmup
from easyrank.serving.signatures import ServingModule, set_method_names, signature_inputs

logger = logging.getLogger(__name__)

PIPELINE_CONFIG_ASSET = "pipeline.config"
WARMUP_ASSET = "tf_serving_warmup_requests"


def next_version(export_dir):
    """A version above every existing one (Unix seconds when that is larger)."""
    existing = [int(d) for d in versions(export_dir)]
    return max([int(time.time())] + [v + 1 for v in existing])


def versions(export_dir):
    if not os.path.isdir(export_dir):
        return []
    return sorted((d for d in os.listdir(export_dir) if d.isdigit()), key=int)


def export_model(model, config, export_dir, keep=0):
    """Writes <export_dir>/<version>/ atomically; returns its path."""
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir)
    final = os.path.join(export_dir, str(version))
    temp = os.path.join(export_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        module = ServingModule(model, config.data_config)
        task_signatures = module.task_signatures(list(config.model_config.tasks))
        signatures = {
            "serving_default": module.serving_default.get_concrete_function(),
            "raw_features": module.raw_features.get_concrete_function(),
        }
        signatures.update({name: fn for name, (fn, _) in task_signatures.items()})
        tf.saved_model.save(module, temp, signatures=signatures)
        set_method_names(temp, {name: method for name, (_, method) in task_signatures.items()})
        extra = os.path.join(temp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, PIPELINE_CONFIG_ASSET), "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(config))
        _write_warmup(config, signature_inputs(signatures), os.path.join(extra, WARMUP_ASSET))
        os.rename(temp, final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if keep > 0:
        for old in versions(export_dir)[:-keep]:
            shutil.rmtree(os.path.join(export_dir, old), ignore_errors=True)
    deployment.write_deployment_files(export_dir, config.export_config.model_name, signatures)
    return final


def _write_warmup(config, signature_inputs, path):
    """Writes TF Serving warmup records from real evaluation rows (num_warmup_rows of them)."""
    num_rows = min(config.export_config.num_warmup_rows, warmup.MAX_ROWS)
    if num_rows <= 0:
        return
    features, source = warmup.read_rows(config, num_rows)
    if source is None:
        logger.warning("No evaluation or training data could be read: the warmup records "
                       "hold one row of default values.")
    logs = warmup.build_prediction_logs(config.export_config.model_name, signature_inputs, features)
    warmup.write_prediction_logs(path, logs)


def resolve_version_dir(path):
    """`path` itself if it holds saved_model.pb, else its highest numeric subdirectory."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((d for d in os.listdir(path) if d.isdigit()), key=int) if os.path.isdir(path) else []
    if not versions:
        raise DataError(f"{path!r} holds no SavedModel (no saved_model.pb and no version directory).")
    return os.path.join(path, versions[-1])


def read_pipeline_config(version_dir):
    """The pipeline config saved with an export version."""
    path = os.path.join(version_dir, "assets.extra", PIPELINE_CONFIG_ASSET)
    config = pipeline_pb2.PipelineConfig()
    with open(path, encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    return config
