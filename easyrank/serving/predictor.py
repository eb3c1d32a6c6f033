"""Scores CSV, TFRecord or Parquet files with an exported SavedModel (behind `python -m easyrank.predict`).

The input is parsed as described by the pipeline.config saved with the model;
label columns may be absent. Output: a CSV with one column per model output.
"""



import numpy as np
import tensorflow as tf

from easyrank.config import feature_kinds
from easyrank.data import build_dataset, list_files
from easyrank.data.csv_reader import open_text
from easyrank.data.parquet_reader import open_parquet
from easyrank.errors import DataError
from easyrank.io import early
from easyrank.io.files import atomic_writer
from easyrank.protos import data_pb2
from easyrank.serving.saved_model import read_pipeline_config


def predict_file(version_dir, patterns, output_path, batch_size=1024, parsed=None):
    """Writes the model's outputs for every row of `patterns` to `output_path`; returns the row count.

    parsed: for CSV and Parquet, the (features, targets) batches of parsed_dataset() on the
    same files, already read (check_export parses its rows once for every comparison).
    """
    config = read_pipeline_config(version_dir)
    data = config.data_config
    files = list_files(patterns)
    early.check_output_is_not_an_input(output_path, files)
    loaded = tf.saved_model.load(version_dir)
    if data.format == data_pb2.DataConfig.TFRECORD:
        signature = loaded.signatures["serving_default"]
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP" if files[0].endswith(".gz") else "")
        batches = ({"examples": b} for b in dataset.batch(batch_size))
    else:
        signature = loaded.signatures["raw_features"]
        if parsed is None:
            parsed = parsed_dataset(data, files, batch_size)
        names = set(signature.structured_input_signature[1])
        separators = list_separators(config)
        batches = ({k: _joined(v, separators.get(k)) for k, v in features.items() if k in names}
                   for features, _ in parsed)
    count = 0
    with atomic_writer(output_path) as out:
        keys = None
        for inputs in batches:
            result = {k: v.numpy() for k, v in signature(**inputs).items()}
            if keys is None:
                keys = sorted(result)
                out.write(",".join(_column_names(keys, result)) + "\n")
            columns = np.concatenate([result[k].reshape(len(result[k]), -1) for k in keys], axis=1)
            np.savetxt(out, columns, fmt="%.7g", delimiter=",")
            count += len(columns)
        if count == 0:  # the temporary is removed, nothing appears at output_path
            raise DataError(f"{', '.join(files)} {'has' if len(files) == 1 else 'have'} no rows: "
                            f"nothing to score; {output_path} was not written.")
    return count


def parsed_dataset(data_config, files, batch_size):
    """(features, targets) batches of CSV or Parquet `files`, parsed as `data_config` describes
    them; label columns may be absent."""
    data = data_pb2.DataConfig()
    data.CopyFrom(data_config)
    _drop_absent_labels(data, files)
    return build_dataset(data, files, training=False, batch_size=batch_size)


def list_separators(config):
    """{input field: the separator of the features that split it} (each feature kind's inputs,
    config/feature_kinds): raw_features takes a list input as one joined string per row."""
    separators = {}
    for _, _, feature, kind in feature_kinds.features(config.feature_configs):
        for name, separator in kind.inputs(feature):
            if separator is not None:
                separators.setdefault(name, separator)
    return separators


def _joined(values, separator):
    """A [B, N] list input (Parquet lists, padded with "") as [B] strings joined by `separator`,
    as raw_features takes it (and CSV holds it); other inputs as they are."""
    if values.shape.rank != 2 or values.dtype != tf.string:
        return values
    return tf.strings.reduce_join(tf.ragged.boolean_mask(values, values != ""), axis=1,
                                  separator=separator or "")


def _column_names(keys, result):
    """One column per output; a vector output (multi-class probs) gives "<key>_<i>" per element."""
    names = []
    for key in keys:
        width = int(np.prod(result[key].shape[1:]))
        names += [key] if result[key].ndim == 1 else [f"{key}_{i}" for i in range(width)]
    return names


def _drop_absent_labels(data, files):
    """Allows scoring files without label columns."""
    if data.format == data_pb2.DataConfig.PARQUET:
        header = open_parquet(files[0]).schema_arrow.names
    elif not data.csv_header:
        return
    else:
        with open_text(files[0]) as f:
            header = f.readline().rstrip("\r\n").split(data.csv_delimiter)
    targets = set(data.label_fields) | {data.sample_weight_field}
    keep = [f for f in data.input_fields if f.name in header or f.name not in targets]
    del data.input_fields[:]
    data.input_fields.extend(keep)
    kept = [label for label in data.label_fields if label in header]
    del data.label_fields[:]
    data.label_fields.extend(kept)
    if data.sample_weight_field not in header:
        data.sample_weight_field = ""
