"""Malformed rows the value checks name with file and row (issue 29): vector features read from
a STRING field with another length or a value that is not a finite number; uint64 beyond INT64."""

import easyrank  # noqa: F401

# isort: split
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.console.app import data_error_message
from easyrank.data import build_dataset, csv_reader, row_checks
from easyrank.data.values import VectorSpec
from easyrank.protos import data_pb2, pipeline_pb2

DATA = """
input_fields { name: "vec" type: STRING }
input_fields { name: "x" type: FLOAT }
input_fields { name: "label" type: FLOAT }
label_fields: "label"
batch_size: 4
csv_header: true
"""
CHECKS = {"vec": VectorSpec("emb", 3, "|")}


def first_error(tmp_path, cells, skip_bad_rows=False):
    """The data error paragraph of reading rows whose vector cells are `cells` (or the rows)."""
    path = tmp_path / "v.csv"
    path.write_text("vec,x,label\n" + "".join(f"{c},0.5,1\n" for c in cells))
    config = text_format.Parse(DATA, data_pb2.DataConfig())
    config.skip_bad_rows = skip_bad_rows
    dataset = build_dataset(config, [str(path)], training=False, binary_labels=CHECKS)
    try:
        return [features["vec"].numpy().tolist() for features, _ in dataset], str(path)
    except tf.errors.InvalidArgumentError as e:
        return data_error_message(e), str(path)


@pytest.mark.parametrize("bad, reason", [
    ("1|2", "vector feature emb (field vec) has another number of values than dimension 3: 1|2"),
    ("1|2|3|4", "vector feature emb (field vec) has another number of values than dimension 3: "
                "1|2|3|4"),
    ("1|nan|3", "vector feature emb (field vec) has a value that is not a finite 32-bit float: "
                "1|nan|3"),
    ("1|2|1e39", "vector feature emb (field vec) has a value that is not a finite 32-bit float: "
                 "1|2|1e39"),
    ("1|x|3", "vector feature emb (field vec) has a value that is not a finite 32-bit float: "
              "1|x|3"),
])
def test_bad_vectors_are_malformed_rows_naming_file_and_line(bad, reason):
    config = text_format.Parse(DATA, data_pb2.DataConfig())
    config.csv_header = False
    reader = csv_reader.CsvReader(config, ["f.csv"], binary_labels=CHECKS)
    lines = tf.constant([f"{c},0.5,1" for c in ["1|2|3", "", bad, "4|5|6"]])
    for parse in (reader.parse_batch, reader._parse_general):  # noqa: SLF001  (both paths)
        with pytest.raises(tf.errors.InvalidArgumentError) as raised:
            parse(tf.constant([1, 2, 3, 4], tf.int64), lines)
        assert f"Malformed CSV row in f.csv at line 3: {reason}." in raised.value.message


def test_a_bad_vector_stops_the_input_with_one_paragraph(tmp_path):
    message, path = first_error(tmp_path, ["1|2|3", "", "1|nan|3"])
    assert message == (f"Malformed CSV row in {path} at line 4: vector feature emb (field vec) has "
                       "a value that is not a finite 32-bit float: 1|nan|3.")


def test_good_vectors_pass_and_bad_ones_are_skipped_on_request(tmp_path):
    rows, _ = first_error(tmp_path, ["1|2|3", "", " 0.5 | -1e-3 |7 ", "1|nan|3", "1|2"],
                          skip_bad_rows=True)
    assert rows == [[b"1|2|3", b"", b" 0.5 | -1e-3 |7 "]]


def test_row_checks_name_the_string_inputs_of_vector_features():
    config = text_format.Parse("""
        data_config { input_fields { name: "v" type: STRING } input_fields { name: "f" type: FLOAT length: 2 }
                      input_fields { name: "y" type: FLOAT } label_fields: "y" }
        feature_configs { vector_feature { name: "a" input_name: "v" dimension: 4 separator: ";" } }
        feature_configs { vector_feature { name: "f" dimension: 2 } }
        model_config { tasks { name: "t" label: "y" } }""", pipeline_pb2.PipelineConfig())
    checks = row_checks(config)
    assert checks == {"y": (0.0, 1.0), "v": VectorSpec("a", 4, ";")}  # f: float_list, checked as floats


def test_parquet_vectors_are_checked_like_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = str(tmp_path / "v.parquet")
    pq.write_table(pa.table({"vec": ["1|2|3", "", None, "1|2", "1|inf|3"], "x": [0.5] * 5,
                             "label": [1.0] * 5}), path)
    config = text_format.Parse(DATA, data_pb2.DataConfig())
    config.format = data_pb2.DataConfig.PARQUET
    config.input_fields[0].default_value = ""
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        list(build_dataset(config, [path], training=False, binary_labels=CHECKS))
    assert data_error_message(raised.value) == (
        f"Malformed Parquet row in {path}:4: vector feature emb (field vec) has another number of "
        "values than dimension 3: 1|2.")
    config.skip_bad_rows = True
    rows = [f["vec"].numpy().tolist() for f, _ in build_dataset(config, [path], training=False,
                                                               binary_labels=CHECKS)]
    assert rows == [[b"1|2|3", b"", b""]]


def test_parquet_uint64_beyond_int64_is_a_malformed_row_not_minus_one(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = str(tmp_path / "u.parquet")
    pq.write_table(pa.table({"id": pa.array([1, 2 ** 64 - 1], pa.uint64()),
                             "label": [1.0, 0.0]}), path)
    config = text_format.Parse('format: PARQUET input_fields { name: "id" type: INT64 } '
                               'input_fields { name: "label" type: FLOAT } label_fields: "label" '
                               "batch_size: 4", data_pb2.DataConfig())
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        list(build_dataset(config, [path], training=False))
    assert data_error_message(raised.value) == (
        f"Malformed Parquet row in {path}:2: column id (uint64) is beyond the INT64 range: "
        "18446744073709551615.")
