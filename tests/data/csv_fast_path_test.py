"""The CSV fast path (one line regex + tf.io.decode_csv) gives the general path's tensors."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.config import load_config
from easyrank.data import csv_reader
from easyrank.protos import data_pb2

DATA = """
csv_header: false
input_fields { name: "age" type: FLOAT default_value: "-1" }
input_fields { name: "city" type: STRING default_value: "unknown" }
input_fields { name: "count" type: INT64 default_value: "7" }
input_fields { name: "label" type: STRING }
label_fields: "label"
"""


def parse_both(reader, lines):
    lines = tf.constant(lines)
    numbers = tf.range(1, tf.size(lines) + 1, dtype=tf.int64)  # file 0, lines 1..n
    plain = bool(tf.reduce_all(tf.strings.regex_full_match(lines, reader._line_pattern)))
    return plain, reader.parse_batch(numbers, lines), reader._parse_general(numbers, lines)


def assert_same(fast, general):
    for part_fast, part_general in zip(fast, general):
        assert sorted(part_fast) == sorted(part_general)
        for key in part_fast:
            assert part_fast[key].dtype == part_general[key].dtype, key
            np.testing.assert_array_equal(part_fast[key].numpy(), part_general[key].numpy(), err_msg=key)


@pytest.mark.parametrize("delimiter", [",", "\t", "|"])
def test_plain_lines_take_the_fast_path_with_equal_values(delimiter):
    config = text_format.Parse(DATA, data_pb2.DataConfig())
    config.csv_delimiter = delimiter
    reader = csv_reader.CsvReader(config, ["f.csv"])
    rows = [["31", "paris", "2", "1"], ["", "", "", "0"], ["7.5", "ro me", "-3", "1."],
            ["+.5", "x\"y", "+4", "1e0"], ["-2e-3", "a b", "0", ".0"]]
    plain, fast, general = parse_both(reader, [delimiter.join(r) for r in rows])
    assert plain
    assert_same(fast, general)
    np.testing.assert_allclose(fast[0]["age"].numpy(), [31, -1, 7.5, 0.5, -0.002], rtol=1e-6)
    assert fast[0]["city"].numpy().tolist() == [b"paris", b"unknown", b"ro me", b"x\"y", b"a b"]
    assert fast[0]["count"].numpy().tolist() == [2, 7, -3, 4, 0]
    assert fast[1]["label"].numpy().tolist() == [1, 0, 1, 1, 0]


@pytest.mark.parametrize("odd", [" 31 ", " 1e3"])
def test_spaces_take_the_general_path(odd):
    reader = csv_reader.CsvReader(text_format.Parse(DATA, data_pb2.DataConfig()), ["f.csv"])
    plain, fast, general = parse_both(reader, [f"{odd},a,1,0", "2,b,3,1"])
    assert not plain
    assert_same(fast, general)


@pytest.mark.parametrize("bad", ["1,a,1", "1,a,1,0,9", "x,a,1,0", "1,a,1.5,0"])
def test_bad_rows_still_name_the_line(bad):
    reader = csv_reader.CsvReader(text_format.Parse(DATA, data_pb2.DataConfig()), ["f.csv"])
    lines = tf.constant(["1,a,1,0", bad])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r'f\.csv" at line 2'):
        reader.parse_batch(tf.constant([1, 2], tf.int64), lines)


@pytest.mark.parametrize("value, plain", [("inf", False), ("nan", False), ("-inf", False), ("1e39", True)])
def test_non_finite_values_are_malformed_on_both_paths(value, plain):
    reader = csv_reader.CsvReader(text_format.Parse(DATA, data_pb2.DataConfig()), ["f.csv"])
    lines = tf.constant(["2,b,3,1", f"{value},a,1,0"])
    assert bool(tf.reduce_all(tf.strings.regex_full_match(lines, reader._line_pattern))) == plain
    numbers = tf.constant([1, 2], tf.int64)
    reason = "column age is not a finite 32-bit float"
    for parse in (reader.parse_batch, reader._parse_general):
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf'Malformed CSV row in f\.csv at line 2: {reason}'):
            parse(numbers, lines)


def test_non_finite_labels_and_binary_labels_are_malformed():
    reader = csv_reader.CsvReader(text_format.Parse(DATA, data_pb2.DataConfig()), ["f.csv"],
                                  binary_labels={"label": (0.0, 1.0)})
    numbers = tf.constant([1, 2], tf.int64)
    for label, reason in [("nan", "column label is not a finite 32-bit float: nan"),
                          ("2", "label label is not 0 or 1 \\(binary cross-entropy\\): 2")]:
        lines = tf.constant(["2,b,3,1", f"1,a,1,{label}"])
        for parse in (reader.parse_batch, reader._parse_general):
            with pytest.raises(tf.errors.InvalidArgumentError, match=rf"f\.csv at line 2: {reason}"):
                parse(numbers, lines)


def test_non_finite_to_default_and_skip_bad_rows_agree_on_both_paths():
    config = text_format.Parse(DATA, data_pb2.DataConfig())
    config.non_finite_to_default = True
    reader = csv_reader.CsvReader(config, ["f.csv"])
    lines = ["1e39,a,1,0", "5,b,2,1", "1e3,c,3,1"]
    plain, fast, general = parse_both(reader, lines)
    assert plain
    assert_same(fast, general)
    np.testing.assert_array_equal(fast[0]["age"].numpy(), [-1, 5, 1000])  # the default is -1
    config.non_finite_to_default = False
    config.skip_bad_rows = True
    reader = csv_reader.CsvReader(config, ["f.csv"], binary_labels={"label": (0.0, 1.0)})
    lines = ["1e39,a,1,0", "5,b,2,1", "1e3,c,3,7", "nan,d,4,1", "6,e,5,0"]
    plain, fast, general = parse_both(reader, lines)
    assert_same(fast, general)
    np.testing.assert_array_equal(fast[0]["age"].numpy(), [5, 6])
    assert fast[0]["city"].numpy().tolist() == [b"b", b"e"]


def test_census_rows_take_the_fast_path():
    config = load_config("samples/configs/census_mlp.config")
    reader = csv_reader.CsvReader(config.data_config, ["tests/data/census_tiny.csv"])
    with open("tests/data/census_tiny.csv", encoding="utf-8") as f:
        lines = f.read().splitlines()[1:]
    plain, fast, general = parse_both(reader, lines)
    assert plain
    assert_same(fast, general)


def test_value_errors_inside_the_tf_data_pipeline_name_the_line(tmp_path):
    from easyrank.data import build_dataset
    path = tmp_path / "rows.csv"
    path.write_text("1,a,1,0\n2,b,2,1\nnan,c,3,1\n")
    config = text_format.Parse(DATA, data_pb2.DataConfig())
    config.batch_size = 2
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"Malformed CSV row in {path} at line 3: column age is not a finite 32-bit float: nan"):
        for _ in build_dataset(config, [str(path)], training=False):
            pass
