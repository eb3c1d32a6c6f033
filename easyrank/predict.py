"""python -m easyrank.predict --saved_model_dir DIR --input_path X --output_path Y

Scores a CSV or TFRecord file with an exported SavedModel. DIR is a version
directory or an export base directory (the highest version is used). The
input is parsed as described by the pipeline.config saved with the model;
label columns may be absent. Output: a CSV with one column per model output.
"""

import os

from absl import flags

from easyrank import cli
from easyrank.errors import DataError

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run as a CLI, so that other modules can import predict_file."""
    flags.DEFINE_string("saved_model_dir", None, "Export directory (a version or their parent).")
    flags.DEFINE_multi_string("input_path", None, "Files (or globs) to score.")
    flags.DEFINE_string("output_path", None, "Where to write the scores (CSV).")
    flags.DEFINE_integer("batch_size", 1024, "Rows per request to the model.")
    flags.mark_flags_as_required(["saved_model_dir", "input_path", "output_path"])


def resolve_version_dir(path):
    """`path` itself if it holds saved_model.pb, else its highest numeric subdirectory."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((d for d in os.listdir(path) if d.isdigit()), key=int) if os.path.isdir(path) else []
    if not versions:
        raise DataError(f"{path!r} holds no SavedModel (no saved_model.pb and no version directory).")
    return os.path.join(path, versions[-1])


def read_pipeline_config(version_dir):
    from google.protobuf import text_format

    from easyrank.export import PIPELINE_CONFIG_ASSET
    from easyrank.protos import pipeline_pb2
    path = os.path.join(version_dir, "assets.extra", PIPELINE_CONFIG_ASSET)
    config = pipeline_pb2.PipelineConfig()
    with open(path, encoding="utf-8") as f:
        text_format.Parse(f.read(), config)
    return config


def predict_file(version_dir, patterns, output_path, batch_size=1024):
    """Writes the model's outputs for every row of `patterns` to `output_path`; returns the row count."""
    import numpy as np
    import tensorflow as tf

    from easyrank.data import build_dataset, list_files
    from easyrank.protos import data_pb2
    config = read_pipeline_config(version_dir)
    data = config.data_config
    loaded = tf.saved_model.load(version_dir)
    files = list_files(patterns)
    if data.format == data_pb2.DataConfig.TFRECORD:
        signature = loaded.signatures["serving_default"]
        dataset = tf.data.TFRecordDataset(files, compression_type="GZIP" if files[0].endswith(".gz") else "")
        batches = ({"examples": b} for b in dataset.batch(batch_size))
    else:
        signature = loaded.signatures["raw_features"]
        _drop_absent_labels(data, files)
        dataset = build_dataset(data, files, training=False, batch_size=batch_size)
        names = set(signature.structured_input_signature[1])
        batches = ({k: v for k, v in features.items() if k in names} for features, _ in dataset)
    count = 0
    with open(output_path + ".tmp", "w", encoding="utf-8") as out:
        keys = None
        for inputs in batches:
            result = signature(**inputs)
            if keys is None:
                keys = sorted(result)
                out.write(",".join(keys) + "\n")
            columns = np.stack([result[k].numpy().reshape(-1) for k in keys], axis=1)
            np.savetxt(out, columns, fmt="%.7g", delimiter=",")
            count += len(columns)
    os.replace(output_path + ".tmp", output_path)
    return count


def _drop_absent_labels(data, files):
    """Allows scoring files without label columns."""
    if not data.csv_header:
        return
    from easyrank.data.csv_reader import _open
    with _open(files[0]) as f:
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


def main(argv):
    del argv
    version_dir = resolve_version_dir(FLAGS.saved_model_dir)
    count = predict_file(version_dir, FLAGS.input_path, FLAGS.output_path, FLAGS.batch_size)
    print(f"Scored {count} rows with {version_dir}; wrote {FLAGS.output_path}")
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
