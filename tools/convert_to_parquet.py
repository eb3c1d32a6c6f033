"""Writes the CSV or TFRecord input of a config as Parquet, one .parquet file per input file.

Columns are the config's input fields with the types the Parquet reader expects
(STRING -> string, INT64 -> int64, FLOAT -> float32). A STRING field read by a
sequence_feature or tag_feature becomes a list column (the joined string split
by the feature's separator, empty values dropped): set `is_list: true` on it in
the Parquet config. Reading streams (CSV with pyarrow.csv, TFRecord with
easyrank's own input), so files larger than memory convert.

    python tools/convert_to_parquet.py --config samples/configs/census_dcn_mix.config \\
        --output_dir samples/data/census/parquet --row_group_size 20000
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import easyrank  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from easyrank.config import load_config  # noqa: E402
from easyrank.data import build_dataset, list_files  # noqa: E402
from easyrank.protos import data_pb2  # noqa: E402

_TYPES = {data_pb2.InputField.STRING: pa.string(), data_pb2.InputField.INT64: pa.int64(),
          data_pb2.InputField.FLOAT: pa.float32()}


def list_separators(config):
    """{input field: separator} of the fields read by sequence or tag features."""
    separators = {}
    for wrapper in config.feature_configs:
        kind = wrapper.WhichOneof("feature")
        if kind in ("sequence_feature", "tag_feature"):
            feature = getattr(wrapper, kind)
            separators[feature.input_name or feature.name] = feature.separator
    return separators


def arrow_schema(data_config, separators):
    targets = set(data_config.label_fields) | {data_config.sample_weight_field}
    fields = []
    for field in data_config.input_fields:
        if field.name in separators or field.is_list:
            fields.append(pa.field(field.name, pa.list_(pa.string())))
        else:
            fields.append(pa.field(field.name, pa.float32() if field.name in targets else _TYPES[field.type]))
    return pa.schema(fields)


def csv_tables(data_config, path, schema, separators, block_size):
    """Tables of a CSV file (gzip or plain), streamed block by block."""
    names = [f.name for f in data_config.input_fields]
    types = {f.name: pa.string() if pa.types.is_list(f.type) else f.type for f in schema}
    read_options = pa_csv.ReadOptions(block_size=block_size,
                                      column_names=None if data_config.csv_header else names)
    parse_options = pa_csv.ParseOptions(delimiter=data_config.csv_delimiter, quote_char=False)
    convert_options = pa_csv.ConvertOptions(column_types=types, include_columns=names,
                                            strings_can_be_null=False, quoted_strings_can_be_null=False)
    with pa_csv.open_csv(path, read_options=read_options, parse_options=parse_options,
                         convert_options=convert_options) as reader:
        for batch in reader:
            table = pa.Table.from_batches([batch])
            for name, separator in separators.items():
                index = table.schema.get_field_index(name)
                parts = pc.split_pattern(table.column(index), separator)
                parts = pa.chunked_array([_drop_empty(chunk) for chunk in parts.chunks],
                                         type=pa.list_(pa.string()))
                table = table.set_column(index, name, parts)
            yield table.select(names).cast(schema)


def _drop_empty(lists):
    """list<string> array without its "" elements (joined strings like "a||b" or "")."""
    values = lists.flatten()
    keep = pc.not_equal(values, "")
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    counts = np.bincount(parent[keep.to_numpy(zero_copy_only=False)], minlength=len(lists))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pc.filter(values, keep))


def tfrecord_tables(data_config, path, schema, separators, batch_size):
    """Tables of a TFRecord file of tf.Example, parsed by easyrank's input."""
    dataset = build_dataset(data_config, [path], training=False, batch_size=batch_size)
    for features, targets in dataset:
        columns = {**features, **targets}
        arrays = []
        for field in schema:
            value = columns[field.name].numpy()
            if pa.types.is_list(field.type):
                if value.ndim == 1:  # a joined string
                    value = [v.decode() for v in value]
                    arrays.append(_drop_empty(pc.split_pattern(pa.array(value), separators[field.name])))
                else:
                    arrays.append(pa.array([[v.decode() for v in row if v] for row in value], field.type))
            elif pa.types.is_string(field.type):
                arrays.append(pa.array([v.decode() for v in value], pa.string()))
            else:
                arrays.append(pa.array(value, field.type))
        yield pa.Table.from_arrays(arrays, schema=schema)


def convert(config, inputs, output_dir, row_group_size=100_000, compression="snappy"):
    """Converts each input file to output_dir/<name>.parquet; returns the written paths."""
    data_config = config.data_config
    separators = {name: sep for name, sep in list_separators(config).items()
                  if name in {f.name for f in data_config.input_fields}}
    schema = arrow_schema(data_config, separators)
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for path in list_files(inputs):
        name = os.path.basename(path)
        for suffix in (".gz", ".csv", ".tfrecord", ".tfrecords"):
            name = name.removesuffix(suffix)
        target = os.path.join(output_dir, name + ".parquet")
        if data_config.format == data_pb2.DataConfig.TFRECORD:
            tables = tfrecord_tables(data_config, path, schema, separators, row_group_size)
        else:
            tables = csv_tables(data_config, path, schema, separators, block_size=16 << 20)
        rows = 0
        with pq.ParquetWriter(target, schema, compression=compression) as writer:
            for table in tables:
                writer.write_table(table, row_group_size=row_group_size)
                rows += table.num_rows
        print(f"{path} -> {target}: {rows:,} rows")
        written.append(target)
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--input", action="append",
                        help="Files or globs (default: the config's train and eval inputs).")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--row_group_size", type=int, default=100_000)
    parser.add_argument("--compression", default="snappy")
    args = parser.parse_args()
    config = load_config(args.config)
    inputs = args.input or list(config.train_input_path) + list(config.eval_input_path)
    convert(config, inputs, args.output_dir, args.row_group_size, args.compression)


if __name__ == "__main__":
    main()
