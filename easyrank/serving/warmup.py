"""TF Serving warmup records: real rows as PredictionLog requests for every signature.

TF Serving replays `assets.extra/tf_serving_warmup_requests` (a TFRecord file
of tensorflow.serving.PredictionLog, at most 1000 records) before it marks a
version available, so the first real request does not pay for graph
initialisation. The same requests are what `easyrank.check_export` replays
and compares against the model in memory.

    features, source = read_rows(config, 16)
    logs = build_prediction_logs("easyrank", {"serving_default": ["examples"]}, features)
    write_prediction_logs(path, logs)
"""

import logging

import numpy as np
import tensorflow as tf

from easyrank.data import build_dataset, input_signature_fields

logger = logging.getLogger(__name__)

MAX_ROWS = 256
MAX_RECORDS = 1000  # TF Serving reads at most this many warmup records.


def read_rows(config, num_rows):
    """The first `num_rows` rows of the evaluation (else training) data as numpy features.

    Returns (features, source path); (one row of default values, None) when no
    data can be read, e.g. an export on a machine without the training data.
    """
    for path in (config.eval_input_path, config.train_input_path):
        if not path:
            continue
        try:
            dataset = build_dataset(config.data_config, path, training=False, batch_size=num_rows)
            features, _ = next(iter(dataset))
        except (tf.errors.OpError, ValueError, OSError, StopIteration) as e:
            logger.warning("Warmup rows: cannot read %s: %s", path, e)
            continue
        return {k: v.numpy() for k, v in features.items()}, path
    defaults = {name: np.array([default], dtype=dtype.as_numpy_dtype if dtype != tf.string else object)
                for name, dtype, default in input_signature_fields(config.data_config)}
    return defaults, None


def first_rows(rows, num_rows):
    """(the first `num_rows` of `rows`, "evaluation") when `rows` (the first batch of the
    evaluation data, as read_rows would read it) has that many, else (None, None)."""
    if not rows or len(next(iter(rows.values()))) < num_rows:
        return None, None
    return {k: v[:num_rows] for k, v in rows.items()}, "evaluation"


def to_examples(features):
    """tf.Example per row; list features (2-D) keep their non-empty entries, empty values are left out."""
    num_rows = len(next(iter(features.values())))
    examples = []
    for i in range(num_rows):
        example = tf.train.Example()
        for name, column in features.items():
            values = np.asarray(column[i]).reshape(-1)
            feature = example.features.feature[name]
            if values.dtype.kind in "OSU":
                feature.bytes_list.value.extend(
                    v if isinstance(v, bytes) else str(v).encode() for v in values if v not in (b"", ""))
            elif values.dtype.kind in "iu":
                feature.int64_list.value.extend(int(v) for v in values)
            else:
                feature.float_list.value.extend(float(v) for v in values)
            if not (feature.bytes_list.value or feature.int64_list.value or feature.float_list.value):
                # Nothing left (an empty string or list): leave the feature out so that
                # parsing gives the config's default; a present but empty bytes_list would
                # fail a scalar feature.
                del example.features.feature[name]
        examples.append(example)
    return examples


def signature_kind(name, input_keys):
    """How a signature is called: "regress", "classify", "examples" or "raw"."""
    if name == "regress" or name.endswith("/regress"):
        return "regress"
    if name == "classify" or name.endswith("/classify"):
        return "classify"
    return "examples" if list(input_keys) == ["examples"] else "raw"


def build_prediction_logs(model_name, signature_inputs, features, batch_sizes=None):
    """PredictionLogs calling every signature with the first row and with all rows.

    Args:
      model_name: model_spec.name of the requests.
      signature_inputs: {signature name: its input keys}.
      features: {input name: numpy array [rows, ...]}, as read_rows returns.
      batch_sizes: request sizes (default: 1 and all rows).
    """
    from tensorflow_serving.apis import prediction_log_pb2

    num_rows = len(next(iter(features.values())))
    sizes = sorted(set(batch_sizes or (1, num_rows)))
    examples = to_examples(features)
    logs = []
    for name in sorted(signature_inputs):
        keys = list(signature_inputs[name])
        kind = signature_kind(name, keys)
        for size in sizes:
            log = prediction_log_pb2.PredictionLog()
            if kind in ("regress", "classify"):
                request = (log.regress_log if kind == "regress" else log.classify_log).request
                request.input.example_list.examples.extend(examples[:size])
            else:
                request = log.predict_log.request
                if kind == "examples":
                    serialized = [e.SerializeToString() for e in examples[:size]]
                    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized, tf.string))
                else:
                    for key in keys:
                        request.inputs[key].CopyFrom(tf.make_tensor_proto(features[key][:size]))
            request.model_spec.name = model_name
            request.model_spec.signature_name = name
            logs.append(log)
    if len(logs) > MAX_RECORDS:
        raise ValueError(f"{len(logs)} warmup records; TF Serving reads at most {MAX_RECORDS}.")
    return logs


def write_prediction_logs(path, logs):
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
