"""Export a trained model as a versioned SavedModel that TF Serving loads as is.

    <export_dir>/<version>/saved_model.pb, variables/, assets/,
                          assets.extra/pipeline.config,
                          assets.extra/tf_serving_warmup_requests
    <export_dir>/models.config, batching_parameters.txt, monitoring.config,
                 README.md                       (see easyrank/deployment.py)

Signatures (docs/serving.md):
  serving_default: `examples`, a 1-D tf.string tensor of serialized tf.Example;
                   missing features take the config's default values.
  raw_features:    one input per feature, named after the input field; every
                   input is required (TF Serving's rule for Predict).
  regress:         Regress API: `inputs` (serialized tf.Example) -> `outputs`,
                   the task's probability or prediction, shape [batch].
  classify:        Classify API (binary tasks): `inputs` -> `scores`
                   [batch, 2] = [1 - p, p] and `classes` [batch, 2] = "0", "1".
  With several tasks the last two are per task: "<task>/regress", "<task>/classify".
  Histories (sequence features): in tf.Example a bytes_list, one id per element
  (input fields with is_list), parsed to a dense [batch, N] string tensor padded
  with ""; in raw_features one separator-joined string per row, as in CSV.
Outputs are float32 and named "<task>/logits", "<task>/probs" (classification)
or "<task>/predictions" (regression).

The model is written to a temporary directory inside export_dir and renamed
only when complete; version numbers are Unix seconds and only grow.
"""

import os
import shutil
import time

import tensorflow as tf
from absl import logging
from google.protobuf import text_format

from easyrank import deployment, warmup
from easyrank.models.heads import prediction_key
from easyrank.protos import model_pb2

from easyrank.data.tfrecord_reader import densify, feature_spec

PIPELINE_CONFIG_ASSET = "pipeline.config"
WARMUP_ASSET = "tf_serving_warmup_requests"
REGRESS_METHOD = "tensorflow/serving/regress"
CLASSIFY_METHOD = "tensorflow/serving/classify"


class ServingModule(tf.Module):
    """Holds the model, its serving_default and raw_features functions, and builds the
    Regress/Classify signatures (task_signatures)."""

    def __init__(self, model, data_config):
        super().__init__()
        self.model = model
        self._spec = feature_spec(data_config, include_targets=False)
        fields = model.input_fields
        self.serving_default = tf.function(
            self._from_examples,
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.raw_features = tf.function(
            self._from_raw,
            input_signature=[{name: tf.TensorSpec([None], dtype, name=name) for name, dtype, _ in fields}])

    def task_signatures(self, tasks):
        """{name: (concrete function, method name)} of the Regress and Classify signatures."""
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        signatures = {}
        for task in tasks:
            prefix = "" if len(tasks) == 1 else f"{task.name}/"
            key = prediction_key(task)

            def regress(inputs, key=key):
                return {"outputs": self._from_examples(inputs)[key]}

            signatures[prefix + "regress"] = (tf.function(
                regress, input_signature=[examples]).get_concrete_function(), REGRESS_METHOD)
            if task.loss != model_pb2.TaskConfig.BINARY_CROSS_ENTROPY:
                continue

            def classify(inputs, key=key):
                probs = self._from_examples(inputs)[key]
                classes = tf.tile(tf.constant([["0", "1"]]), [tf.shape(probs)[0], 1])
                return {"scores": tf.stack([1.0 - probs, probs], axis=1), "classes": classes}

            signatures[prefix + "classify"] = (tf.function(
                classify, input_signature=[examples]).get_concrete_function(), CLASSIFY_METHOD)
        return signatures

    def _from_examples(self, examples):
        features = densify(tf.io.parse_example(examples, self._spec))
        return self._outputs(features)

    def _from_raw(self, features):
        return self._outputs(features)

    def _outputs(self, features):
        outputs = self.model(features, training=False)
        return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}


def next_version(export_dir):
    """A version above every existing one (Unix seconds when that is larger)."""
    existing = [int(d) for d in _versions(export_dir)]
    return max([int(time.time())] + [v + 1 for v in existing])


def _versions(export_dir):
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
        _set_method_names(temp, {name: method for name, (_, method) in task_signatures.items()})
        extra = os.path.join(temp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, PIPELINE_CONFIG_ASSET), "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(config))
        _write_warmup(config, _signature_inputs(signatures), os.path.join(extra, WARMUP_ASSET))
        os.rename(temp, final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if keep > 0:
        for old in _versions(export_dir)[:-keep]:
            shutil.rmtree(os.path.join(export_dir, old), ignore_errors=True)
    deployment.write_deployment_files(export_dir, config.export_config.model_name, signatures)
    return final


def _set_method_names(saved_model_dir, methods):
    """Gives the Regress and Classify signatures the method names TF Serving requires.

    tf.saved_model.save marks every signature as Predict; TF Serving's Regress
    and Classify APIs only accept signatures with their own method name. The
    fingerprint hashes saved_model.pb, so it is recomputed.
    """
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            meta_graph.signature_def[name].method_name = method
    with open(path, "wb") as f:
        f.write(saved_model.SerializeToString())
    fingerprint = os.path.join(saved_model_dir, "fingerprint.pb")
    if os.path.exists(fingerprint):
        with open(fingerprint, "wb") as f:
            f.write(fingerprinting.CreateFingerprintDef(saved_model_dir))


def _signature_inputs(signatures):
    """{signature name: input keys} of concrete functions.

    A concrete function's `inputs` list its declared inputs first, then captured
    tensors (variables, lookup-table defaults); only the declared ones are kept.
    """
    result = {}
    for name, fn in signatures.items():
        declared = len(tf.nest.flatten(fn.structured_input_signature))
        result[name] = sorted(t.name.split(":")[0] for t in fn.inputs[:declared])
    return result


def _write_warmup(config, signature_inputs, path):
    """Writes TF Serving warmup records from real evaluation rows (num_warmup_rows of them)."""
    num_rows = min(config.export_config.num_warmup_rows, warmup.MAX_ROWS)
    if num_rows <= 0:
        return
    try:
        import tensorflow_serving.apis.prediction_log_pb2  # noqa: F401
    except ImportError:
        logging.warning("tensorflow-serving-api is not installed (pip install easyrank[serving]): "
                        "the export has no warmup records.")
        return
    features, source = warmup.read_rows(config, num_rows)
    if source is None:
        logging.warning("No evaluation or training data could be read: the warmup records "
                        "hold one row of default values.")
    logs = warmup.build_prediction_logs(config.export_config.model_name, signature_inputs, features)
    warmup.write_prediction_logs(path, logs)


def default_export_dir(config, model_dir):
    return config.export_config.export_dir or os.path.join(model_dir, "export")


def main(argv):
    """python -m easyrank.export --pipeline_config_path CFG --export_dir DIR [--checkpoint_path P]"""
    del argv
    from absl import flags

    from easyrank import cli, distribute, training
    from easyrank.errors import ConfigError
    FLAGS = flags.FLAGS
    config = cli.load_pipeline_config()
    checkpoint_path = FLAGS.checkpoint_path or FLAGS.model_dir or config.model_dir
    model, checkpoint = training.create_model(config, distribute.build_strategy(config.train_config))
    if not checkpoint_path or not training.restore(checkpoint, checkpoint_path):
        raise ConfigError(f"no checkpoint found in {checkpoint_path!r}; train first or pass "
                          "--checkpoint_path.", path="model_dir", file=FLAGS.pipeline_config_path)
    export_dir = FLAGS.export_dir or default_export_dir(config, FLAGS.model_dir or config.model_dir)
    print(export_model(model, config, export_dir, keep=config.export_config.keep))
    return 0


if __name__ == "__main__":
    from absl import flags as _flags

    from easyrank import cli as _cli
    _cli.define_config_flags()
    _flags.DEFINE_string("export_dir", None, "Base directory; the model goes to <export_dir>/<version>/.")
    _flags.DEFINE_string("checkpoint_path", None, "A checkpoint file or directory (default: model_dir).")
    _flags.DEFINE_string("model_dir", None, "Overrides the config's model_dir.")
    _cli.run(main)
