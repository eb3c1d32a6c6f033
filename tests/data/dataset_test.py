"""CSV and TFRecord input pipelines: parsing, defaults, files, sharding, bad rows."""

import gzip
import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.data import build_dataset
from easyrank.errors import DataError
from easyrank.protos import data_pb2

DATA = """
input_fields { name: "age" type: FLOAT default_value: "-1" }
input_fields { name: "city" type: STRING default_value: "unknown" }
input_fields { name: "count" type: INT64 }
input_fields { name: "label" type: FLOAT }
label_fields: "label"
"""
ROWS = [("31", "paris", "2", "1"), ("", "", "", "0"), ("7.5", "rome", "-3", "0")]


def data_config(extra="", batch_size=2, shuffle=False):
    config = text_format.Parse(DATA + extra, data_pb2.DataConfig())
    config.batch_size = config.batch_size if "batch_size" in extra else batch_size
    config.shuffle = config.shuffle if "shuffle:" in extra else shuffle
    return config


def write_csv(path, rows, header=("age", "city", "count", "label"), extra_column=True):
    lines = []
    if header:
        lines.append(",".join(header + (("ignored",) if extra_column else ())))
    lines += [",".join(r + (("x",) if extra_column else ())) for r in rows]
    text = "\n".join(lines) + "\n"
    if path.endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)
    return path


def collect(dataset):
    features, targets = {}, {}
    for f, t in dataset:
        for k, v in f.items():
            features.setdefault(k, []).extend(v.numpy().tolist())
        for k, v in t.items():
            targets.setdefault(k, []).extend(v.numpy().tolist())
    return features, targets


def test_csv_with_header_selects_columns_and_fills_defaults(tmp_path):
    path = write_csv(str(tmp_path / "a.csv"), ROWS)
    features, targets = collect(build_dataset(data_config(), [path], training=False))
    assert features["age"] == [31.0, -1.0, 7.5]
    assert features["city"] == [b"paris", b"unknown", b"rome"]
    assert features["count"] == [2, 0, -3]
    assert targets["label"] == [1.0, 0.0, 0.0]
    assert "ignored" not in features


def test_csv_without_header_gzip_and_globs(tmp_path):
    write_csv(str(tmp_path / "part-0.csv.gz"), ROWS[:2], header=None, extra_column=False)
    write_csv(str(tmp_path / "part-1.csv.gz"), ROWS[2:], header=None, extra_column=False)
    config = data_config("csv_header: false")
    features, _ = collect(build_dataset(config, [str(tmp_path / "part-*.csv.gz")], training=False))
    assert sorted(features["age"]) == [-1.0, 7.5, 31.0]


def test_training_repeats_epochs_and_shuffles_deterministically(tmp_path):
    rows = [(str(i), "c", "1", "0") for i in range(50)]
    path = write_csv(str(tmp_path / "a.csv"), rows)
    config = data_config("shuffle: true shuffle_buffer_size: 100")
    first, _ = collect(build_dataset(config, [path], training=True, num_epochs=2, seed=3))
    again, _ = collect(build_dataset(config, [path], training=True, num_epochs=2, seed=3))
    assert first["age"] == again["age"]
    assert len(first["age"]) == 100
    assert sorted(first["age"][:50]) == [float(i) for i in range(50)]
    assert first["age"][:50] != [float(i) for i in range(50)]


def test_skip_batches_resumes_where_training_stopped(tmp_path):
    rows = [(str(i), "c", "1", "0") for i in range(10)]
    path = write_csv(str(tmp_path / "a.csv"), rows)
    config = data_config("shuffle: true")
    full, _ = collect(build_dataset(config, [path], training=True, seed=1))
    rest, _ = collect(build_dataset(config, [path], training=True, seed=1, skip_batches=2))
    assert rest["age"] == full["age"][4:]


def test_cache_serves_every_row_once_per_epoch_in_a_new_order(tmp_path):
    rows = [(str(i), f"c{i}", str(i), str(i % 2)) for i in range(11)]
    path = write_csv(str(tmp_path / "a.csv"), rows)
    config = data_config("shuffle: true cache: true batch_size: 4")
    batches = list(build_dataset(config, [path], training=True, num_epochs=3, seed=5))
    # 3 x 11 rows in batches of 4 that run across epochs, as in the streaming input.
    assert [int(f["age"].shape[0]) for f, _ in batches] == [4] * 8 + [1]
    features, targets = collect(batches)
    epochs = [features["age"][11 * e:11 * (e + 1)] for e in range(3)]
    for e in range(3):
        assert sorted(epochs[e]) == [float(i) for i in range(11)]
        # Columns stay aligned: each row's city, count and label match its age.
        for age, city, count, label in zip(epochs[e], features["city"][11 * e:], features["count"][11 * e:],
                                           targets["label"][11 * e:]):
            assert (city, count, label) == (f"c{int(age)}".encode(), int(age), float(int(age) % 2))
    assert epochs[0] != epochs[1] != epochs[2] and epochs[0] != [float(i) for i in range(11)]
    # The same seed gives the same batches; skip_batches resumes in the middle.
    again, _ = collect(build_dataset(config, [path], training=True, num_epochs=3, seed=5))
    assert again["age"] == features["age"]
    rest, _ = collect(build_dataset(config, [path], training=True, num_epochs=3, seed=5, skip_batches=4))
    assert rest["age"] == features["age"][16:]


def test_cache_without_shuffle_keeps_file_order(tmp_path):
    rows = [(str(i), "c", "1", "0") for i in range(5)]
    path = write_csv(str(tmp_path / "a.csv.gz"), rows)
    config = data_config("cache: true batch_size: 2")
    features, _ = collect(build_dataset(config, [path], training=True, num_epochs=2))
    assert features["age"] == [float(i) for i in range(5)] * 2
    # num_epochs -1 (parameter-server training) repeats without end.
    endless = build_dataset(config, [path], training=True, num_epochs=-1).take(7)
    assert collect(endless)[0]["age"] == [float(i) for i in range(5)] * 2 + [0.0, 1.0, 2.0, 3.0]


def test_cache_still_names_a_bad_row(tmp_path):
    path = write_csv(str(tmp_path / "a.csv"), [("1", "c", "1", "0"), ("x", "c", "1", "0")])
    config = data_config("cache: true")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        collect(build_dataset(config, [path], training=True))
    from easyrank.console import data_error_message
    assert data_error_message(info.value) == f"Malformed CSV row in {path} at line 3: column age is not a number: x."


def test_sharding_by_rows_and_by_files(tmp_path):
    rows = [(str(i), "c", "1", "0") for i in range(8)]
    one = write_csv(str(tmp_path / "one.csv"), rows)
    seen = []
    for shard in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=shard,
                                             num_replicas_in_sync=2)
        features, _ = collect(build_dataset(data_config("batch_size: 4"), [one], training=False,
                                            input_context=context))
        seen.append(features["age"])
    assert sorted(seen[0] + seen[1]) == [float(i) for i in range(8)]
    assert not set(seen[0]) & set(seen[1])
    files = [write_csv(str(tmp_path / f"f{i}.csv"), rows[4 * i:4 * i + 4]) for i in range(2)]
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    features, _ = collect(build_dataset(data_config(), files, training=False, input_context=context))
    assert features["age"] == [4.0, 5.0, 6.0, 7.0]


@pytest.mark.parametrize("bad_row, reason", [
    (("1", "x", "2"), "expected 5 fields, found 4"),
    (("abc", "x", "2", "1"), "column age is not a number: abc"),
    (("1", "x", "2.5", "1"), "column count is not a number: 2.5"),
    (("1", "x", "2", "yes"), "column label is not a number: yes"),
])
def test_malformed_csv_row_names_file_and_line(tmp_path, bad_row, reason):
    path = str(tmp_path / "bad.csv")
    header = "age,city,count,label,ignored\n"
    rows = [",".join(r) + ",x" for r in ROWS]
    rows.insert(2, ",".join(bad_row) + ",x")
    with open(path, "w") as f:
        f.write(header + "\n".join(rows) + "\n")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        collect(build_dataset(data_config(), [path], training=False))
    from easyrank.console import data_error_message
    message = data_error_message(info.value)
    assert message == f"Malformed CSV row in {path} at line 4: {reason}."


def test_skip_bad_rows_drops_and_reports(tmp_path, capfd):
    path = str(tmp_path / "bad.csv")
    with open(path, "w") as f:
        f.write("age,city,count,label,ignored\n1,a,1,1,x\n2,b\n3,c,1,0,x\nq,d,1,0,x\n")
    features, targets = collect(build_dataset(data_config("skip_bad_rows: true"), [path], training=False))
    assert features["age"] == [1.0, 3.0]
    assert targets["label"] == [1.0, 0.0]
    err = capfd.readouterr().err
    assert "skipped 1 malformed CSV rows" in err and f"{path}:3" in err and f"{path}:5" in err


def test_missing_file_and_missing_column(tmp_path):
    with pytest.raises(DataError, match="Input file not found: '/nonexistent/x.csv'"):
        build_dataset(data_config(), ["/nonexistent/x.csv"], training=False)
    path = str(tmp_path / "a.csv")
    with open(path, "w") as f:
        f.write("age,label\n1,0\n")
    with pytest.raises(DataError, match="the header has no column 'city', 'count'"):
        build_dataset(data_config(), [path], training=False)


def _example(age, city, count, label):
    feature = {"label": tf.train.Feature(float_list=tf.train.FloatList(value=[label]))}
    if age is not None:
        feature["age"] = tf.train.Feature(float_list=tf.train.FloatList(value=[age]))
    if city is not None:
        feature["city"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[city]))
    feature["count"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[count]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_tfrecord_of_examples_with_defaults(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(_example(31.0, b"paris", 2, 1.0))
        writer.write(_example(None, None, 5, 0.0))
        writer.write(_example(7.5, b"rome", -3, 0.0))
    features, targets = collect(build_dataset(data_config("format: TFRECORD"), [path], training=False))
    assert features["age"] == [31.0, -1.0, 7.5]
    assert features["city"] == [b"paris", b"unknown", b"rome"]
    np.testing.assert_array_equal(features["count"], [2, 5, -3])
    assert targets["label"] == [1.0, 0.0, 0.0]
    # The same rows through the in-memory training input.
    cached, _ = collect(build_dataset(data_config("format: TFRECORD cache: true"), [path], training=True))
    assert cached["age"] == [31.0, -1.0, 7.5] and cached["city"] == features["city"]


def test_tfrecord_bad_record_names_file_and_record(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    bad = tf.train.Example(features=tf.train.Features(feature={
        "age": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"]))})).SerializeToString()
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(_example(31.0, b"paris", 2, 1.0))
        writer.write(bad)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        collect(build_dataset(data_config("format: TFRECORD"), [path], training=False))
    assert f"{path} record 2" in str(info.value)
    assert os.path.exists(path)


def _vector_example(vector, label=1.0):
    feature = {"label": tf.train.Feature(float_list=tf.train.FloatList(value=[label]))}
    if vector is not None:
        feature["emb"] = tf.train.Feature(float_list=tf.train.FloatList(value=vector))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


VECTOR = 'format: TFRECORD input_fields { name: "emb" type: FLOAT length: 3 default_value: "0.5" }'


def test_tfrecord_float_list_vector_is_a_fixed_length_row(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(_vector_example([1.0, -2.0, 0.25]))
        writer.write(_vector_example(None))  # missing: length copies of the default
    features, _ = collect(build_dataset(data_config(VECTOR), [path], training=False))
    np.testing.assert_allclose(features["emb"], [[1.0, -2.0, 0.25], [0.5, 0.5, 0.5]])


@pytest.mark.parametrize("bad", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [1.0, float("nan"), 3.0]])
def test_tfrecord_vector_of_wrong_length_or_nan_names_file_and_record(tmp_path, bad):
    path = str(tmp_path / "a.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(_vector_example([1.0, 2.0, 3.0]))
        writer.write(_vector_example(bad))
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        collect(build_dataset(data_config(VECTOR), [path], training=False))
    assert f"{path}" in str(info.value) and "record 2" in str(info.value), str(info.value)[:2000]
    assert "emb" in str(info.value)
