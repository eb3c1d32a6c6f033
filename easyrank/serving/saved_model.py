"""Atomic, versioned SavedModel export: <export_dir>/<version>/, the layout TF Serving watches.

The model is written to a temporary directory inside export_dir and renamed
only when complete; version numbers are Unix seconds and only grow. Old
versions beyond `keep` are first renamed to a dot-prefixed name, which TF
Serving ignores, and then deleted, so no version is ever visible half
deleted; temporaries left by killed exports are removed by the next export.
The signatures are described in easyrank/serving/signatures.py.
"""

import logging
import os
import re
import time

import tensorflow as tf
from google.protobuf import text_format
from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope

from easyrank.errors import DataError
from easyrank.io import files
from easyrank.protos import pipeline_pb2
from easyrank.serving import deployment, warmup
from easyrank.serving.signatures import ServingModule, set_method_names, signature_inputs

logger = logging.getLogger(__name__)

PIPELINE_CONFIG_ASSET = "pipeline.config"
WARMUP_ASSET = "tf_serving_warmup_requests"
# Directories of an export in progress and of a version being deleted: dot-prefixed
# and not numeric, so TF Serving never loads them.
_TEMP = re.compile(r"^\.tmp-\d+-(\d+)$")
_DELETING = re.compile(r"^\.deleting-\d+-\d+$")
# What every complete version holds (checked by resolve_version_dir).
_REQUIRED = ("saved_model.pb", os.path.join("variables", "variables.index"),
             os.path.join("assets.extra", PIPELINE_CONFIG_ASSET))


def next_version(export_dir):
    """A version above every existing one (Unix seconds when that is larger)."""
    existing = [int(d) for d in versions(export_dir)]
    return max([int(time.time())] + [v + 1 for v in existing])


def versions(export_dir):
    return sorted((d for d in files.listdir(export_dir) if d.isdigit()), key=int)


def export_model(model, config, export_dir, keep=0, warmup_rows=None, predict=None):
    """Writes <export_dir>/<version>/ atomically; returns its path.

    warmup_rows: {feature: NumPy array} of the evaluation data's first rows, if the caller
    has them; else the warmup rows are read (warmup.read_rows).
    predict: models.inference.inference_function(model), if the caller has one.
    """
    files.makedirs(export_dir)
    remove_stale_temporaries(export_dir)
    version = next_version(export_dir)
    final = os.path.join(export_dir, str(version))
    temp = os.path.join(export_dir, f".tmp-{version}-{os.getpid()}")
    files.rmtree(temp)
    try:
        module = ServingModule(model, config.data_config, predict)
        task_signatures = module.task_signatures(list(config.model_config.tasks))
        signatures = module.base_signatures()
        signatures.update({name: fn for name, (fn, _) in task_signatures.items()})
        # Without tf_keras' traces of every layer's call (its own SavedModel revival
        # format, which nothing here loads): the signatures hold the whole model, and
        # those traces were about half of the export's time (issue 23).
        with keras_option_scope(save_traces=False, in_tf_saved_model_scope=False):
            tf.saved_model.save(module, temp, signatures=signatures)
        set_method_names(temp, {name: method for name, (_, method) in task_signatures.items()})
        extra = os.path.join(temp, "assets.extra")
        files.makedirs(extra)
        files.write_text(os.path.join(extra, PIPELINE_CONFIG_ASSET), text_format.MessageToString(config))
        _write_warmup(config, signature_inputs(signatures), os.path.join(extra, WARMUP_ASSET), warmup_rows)
        files.publish_dir(temp, final, last=("saved_model.pb",))
    finally:
        files.rmtree(temp)
    if keep > 0:
        for old in versions(export_dir)[:-keep]:
            delete_version(export_dir, old)
    deployment.write_deployment_files(export_dir, config.export_config.model_name, signatures)
    return final


def delete_version(export_dir, version):
    """Hides version `version` from TF Serving (one atomic rename, or on object stores its
    saved_model.pb deleted first), then deletes it."""
    hidden = os.path.join(export_dir, f".deleting-{version}-{os.getpid()}")
    files.retire_dir(os.path.join(export_dir, str(version)), hidden, first=("saved_model.pb",))


def remove_stale_temporaries(export_dir):
    """Removes what killed exports left: temporaries of dead processes, half-deleted versions."""
    for name in files.listdir(export_dir):
        temp = _TEMP.match(name)
        if (temp and not _pid_alive(int(temp.group(1)))) or _DELETING.match(name):
            logging.info("Removing %s, left by an interrupted export.", os.path.join(export_dir, name))
            files.rmtree(os.path.join(export_dir, name))


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _write_warmup(config, signature_inputs, path, rows=None):
    """Writes TF Serving warmup records from real evaluation rows (num_warmup_rows of them)."""
    num_rows = min(config.export_config.num_warmup_rows, warmup.MAX_ROWS)
    if num_rows <= 0:
        return
    features, source = warmup.first_rows(rows, num_rows) if rows else (None, None)
    if features is None:
        features, source = warmup.read_rows(config, num_rows)
    if source is None:
        logger.warning("No evaluation or training data could be read: the warmup records "
                       "hold one row of default values.")
    logs = warmup.build_prediction_logs(config.export_config.model_name, signature_inputs, features)
    warmup.write_prediction_logs(path, logs)


def resolve_version_dir(path):
    """`path` itself if it holds saved_model.pb, else its highest numeric subdirectory."""
    if not files.isfile(os.path.join(path, "saved_model.pb")):
        numbered = versions(path)
        if not numbered:
            raise DataError(f"{path!r} holds no SavedModel (no saved_model.pb and no version directory).")
        path = os.path.join(path, numbered[-1])
    missing = [name for name in _REQUIRED if not files.isfile(os.path.join(path, name))]
    if missing:
        raise DataError(f"{path!r} is not a complete easyrank export: it lacks {', '.join(missing)}. "
                        "Export again (python -m easyrank.export) or point at a complete version.")
    _check_intact(path)
    return path


def _check_intact(path):
    """DataError naming the file when saved_model.pb does not parse or a variables data shard
    is missing (a damaged copy), instead of TensorFlow's traceback at load time."""
    from tensorflow.core.protobuf import saved_model_pb2
    pb = os.path.join(path, "saved_model.pb")
    try:
        with tf.io.gfile.GFile(pb, "rb") as f:
            saved_model_pb2.SavedModel.FromString(f.read())
    except Exception as e:  # noqa: BLE001  (protobuf's DecodeError, a read error)
        raise DataError(f"{pb} is damaged: it is not a SavedModel protobuf ({type(e).__name__}). "
                        "Export again or copy the version anew.") from None
    shards = tf.io.gfile.glob(os.path.join(path, "variables", "variables.data-*-of-*"))
    counts = {int(re.search(r"-of-(\d+)$", name).group(1)) for name in shards}
    expected = {os.path.join(path, "variables", f"variables.data-{i:05d}-of-{n:05d}")
                for n in counts for i in range(n)}
    missing = sorted(expected - set(shards)) if shards else [
        os.path.join(path, "variables", "variables.data-00000-of-00001")]
    if missing:
        raise DataError(f"{path!r} is damaged: the variables file {missing[0]} is missing. Export "
                        "again or copy the version anew.")


def read_pipeline_config(version_dir):
    """The pipeline config saved with an export version."""
    path = os.path.join(version_dir, "assets.extra", PIPELINE_CONFIG_ASSET)
    config = pipeline_pb2.PipelineConfig()
    try:
        text_format.Parse(files.read_text(path), config)
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is damaged: it does not parse as a pipeline config "
                        f"({' '.join(str(e).split())[:200]}).") from None
    return config
