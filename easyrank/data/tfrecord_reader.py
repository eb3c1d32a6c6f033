"""TFRecord input of serialized tf.Example: batched, then parsed with one parse_example."""

import tensorflow as tf

from easyrank.data import fields as fields_lib
from easyrank.data.values import ValueChecker


def _compression(files):
    return "GZIP" if any(f.endswith(".gz") for f in files) else ""


def feature_spec(data_config, include_targets=True):
    """tf.io.parse_example spec of the input fields: scalars with defaults, string lists for
    is_list, fixed-length float_lists for vectors (`length`)."""
    targets = set(data_config.label_fields) | {data_config.sample_weight_field}
    spec = {}
    for field in data_config.input_fields:
        if field.name in targets:
            if include_targets:
                spec[field.name] = tf.io.FixedLenFeature([], tf.float32, default_value=0.0)
            continue
        if field.is_list:
            spec[field.name] = tf.io.VarLenFeature(tf.string)
            continue
        shape = [field.length] if field.length > 0 else []
        spec[field.name] = tf.io.FixedLenFeature(
            shape, fields_lib.field_dtype(field), default_value=fields_lib.default_value(field))
    return spec


def densify(parsed):
    """Sparse list features of a parse_example result -> dense [B, N] padded with ""."""
    return {k: tf.sparse.to_dense(v, default_value="") if isinstance(v, tf.SparseTensor) else v
            for k, v in parsed.items()}


class TFRecordReader:
    """Reads TFRecord files of tf.Example and parses batches of records."""

    def __init__(self, data_config, files, binary_labels=None):
        self._config = data_config
        self._values = ValueChecker(data_config, binary_labels, marker="Malformed record in")
        self._compression = _compression(files)
        self._spec = feature_spec(data_config)
        self._targets = set(data_config.label_fields) | {data_config.sample_weight_field}

    def read_file(self, filename):
        records = tf.data.TFRecordDataset(filename, compression_type=self._compression).enumerate(start=1)
        return tf.data.Dataset.zip((tf.data.Dataset.from_tensors(filename).repeat(), records)).map(
            lambda name, numbered: (name, numbered[0], numbered[1]))

    def parse_batch(self, filenames, record_numbers, records):
        names = filenames + tf.constant(" record ") + tf.strings.as_string(record_numbers)
        parsed = densify(tf.io.parse_example(records, self._spec, example_names=names))
        features = {k: v for k, v in parsed.items() if k not in self._targets}
        targets = {k: v for k, v in parsed.items() if k in self._targets}
        return self._values(features, targets, lambda rows: tf.gather(
            filenames, rows) + " at record " + tf.strings.as_string(tf.gather(record_numbers, rows)))
