"""The serving signatures of an export, as TF Serving calls them.

    <export_dir>/<version>/saved_model.pb, variables/, assets/,
                          assets.extra/pipeline.config,
                          assets.extra/tf_serving_warmup_requests
    <export_dir>/models.config, batching_parameters.txt, monitoring.config,
                 README.md                       (see serving/deployment.py)

Signatures (docs/serving.md):
  serving_default: `examples`, a 1-D tf.string tensor of serialized tf.Example;
                   missing features take the config's default values.
  raw_features:    one input per feature, named after the input field; every
                   input is required (TF Serving's rule for Predict).
  regress:         Regress API: `inputs` (serialized tf.Example) -> `outputs`,
                   the task's probability or prediction, shape [batch].
  classify:        Classify API (binary tasks): `inputs` -> `scores`
                   [batch, 2] = [1 - p, p] and `classes` [batch, 2] = "0", "1";
                   multi-class tasks: `scores` [batch, C] (their only signature
                   besides the two above: Regress answers one number).
  With several tasks the last two are per task: "<task>/regress", "<task>/classify".
  Histories (sequence features): in tf.Example a bytes_list, one id per element
  (input fields with is_list), parsed to a dense [batch, N] string tensor padded
  with ""; in raw_features one separator-joined string per row, as in CSV.
  Dense vectors (input fields with `length`): in tf.Example a float_list of
  exactly `length` values, in raw_features a [batch, length] float32 input;
  another number of values fails the request (INVALID_ARGUMENT naming the key).
Outputs are float32 and named "<task>/logits", "<task>/probs" (classification)
or "<task>/predictions" (regression).
"""

import os

import tensorflow as tf

from easyrank.data.tfrecord_reader import densify, feature_spec
from easyrank.io import files
from easyrank.models.heads import BINARY_LOSSES, prediction_key
from easyrank.models.inference import inference_function, input_specs
from easyrank.protos import model_pb2

REGRESS_METHOD = "tensorflow/serving/regress"
CLASSIFY_METHOD = "tensorflow/serving/classify"


class ServingModule(tf.Module):
    """Holds the model and builds the signatures: serving_default and raw_features
    (base_signatures), Regress/Classify (task_signatures)."""

    def __init__(self, model, data_config, predict=None):
        super().__init__()
        self.model = model
        self._spec = feature_spec(data_config, include_targets=False)
        # Every signature calls this one function (models/inference.py): the model is
        # traced once, or once more for tf.Example lists, not once per signature (issue 23).
        # Functions held out of attribute tracking: tf.saved_model.save traces a tracked
        # tf.function again to list it (in its save context), a second trace of the model per
        # function; the signatures hold their graphs anyway (issue 23).
        self._held = _Untracked({
            "predict": predict or inference_function(model),
            "serving_default": tf.function(
                self._from_examples, input_signature=[tf.TensorSpec([None], tf.string, name="examples")]),
            "raw_features": tf.function(self._from_raw, input_signature=[input_specs(model)]),
        })

    def base_signatures(self):
        """{"serving_default", "raw_features": concrete function}."""
        return {name: self._held.value[name].get_concrete_function()
                for name in ("serving_default", "raw_features")}

    def task_signatures(self, tasks):
        """{name: (concrete function, method name)} of the Regress and Classify signatures.

        They call serving_default (traced once) rather than parsing the examples again."""
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        signatures = {}
        for task in tasks:
            prefix = "" if len(tasks) == 1 else f"{task.name}/"
            key = prediction_key(task)

            multiclass = task.loss == model_pb2.TaskConfig.SOFTMAX_CROSS_ENTROPY

            def regress(inputs, key=key):
                return {"outputs": self._held.value["serving_default"](inputs)[key]}

            if not multiclass:  # Regress answers one number per example
                signatures[prefix + "regress"] = (tf.function(
                    regress, input_signature=[examples]).get_concrete_function(), REGRESS_METHOD)
            if task.loss not in BINARY_LOSSES and not multiclass:
                continue
            names = [str(c) for c in range(task.num_classes if multiclass else 2)]

            def classify(inputs, key=key, names=names, multiclass=multiclass):
                probs = self._held.value["serving_default"](inputs)[key]
                classes = tf.tile(tf.constant([names]), [tf.shape(probs)[0], 1])
                scores = probs if multiclass else tf.stack([1.0 - probs, probs], axis=1)
                return {"scores": scores, "classes": classes}

            signatures[prefix + "classify"] = (tf.function(
                classify, input_signature=[examples]).get_concrete_function(), CLASSIFY_METHOD)
        return signatures

    def _from_examples(self, examples):
        features = densify(tf.io.parse_example(examples, self._spec))
        return self._outputs(features)

    def _from_raw(self, features):
        return self._outputs(features)

    def _outputs(self, features):
        outputs = self._held.value["predict"](features)
        return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}


class _Untracked:
    """Holds a value where tf.Module attribute tracking does not look."""

    def __init__(self, value):
        self.value = value


def set_method_names(saved_model_dir, methods):
    """Gives the Regress and Classify signatures the method names TF Serving requires.

    tf.saved_model.save marks every signature as Predict; TF Serving's Regress
    and Classify APIs only accept signatures with their own method name. The
    fingerprint hashes saved_model.pb, so it is recomputed.
    """
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(files.read_bytes(path))
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            meta_graph.signature_def[name].method_name = method
    files.write_bytes(path, saved_model.SerializeToString())
    fingerprint = os.path.join(saved_model_dir, "fingerprint.pb")
    if files.exists(fingerprint):
        files.write_bytes(fingerprint, fingerprinting.CreateFingerprintDef(saved_model_dir))


def signature_inputs(signatures):
    """{signature name: input keys} of concrete functions.

    A concrete function's `inputs` list its declared inputs first, then captured
    tensors (variables, lookup-table defaults); only the declared ones are kept.
    """
    result = {}
    for name, fn in signatures.items():
        declared = len(tf.nest.flatten(fn.structured_input_signature))
        result[name] = sorted(t.name.split(":")[0] for t in fn.inputs[:declared])
    return result
