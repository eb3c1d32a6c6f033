"""Parquet input: types, lists, nulls, files, sharding, shuffling, resume, cache, bad input."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.data import build_dataset, count_rows
from easyrank.errors import DataError
from easyrank.protos import data_pb2

DATA = """
format: PARQUET
input_fields { name: "age" type: FLOAT default_value: "-1" }
input_fields { name: "city" type: STRING }
input_fields { name: "count" type: INT64 }
input_fields { name: "hist" type: STRING is_list: true }
input_fields { name: "label" type: FLOAT }
label_fields: "label"
"""


def data_config(extra="", batch_size=2, shuffle=False):
    config = text_format.Parse(DATA + extra, data_pb2.DataConfig())
    config.batch_size = batch_size
    config.shuffle = config.shuffle if "shuffle:" in extra else shuffle
    return config


def write(path, rows, row_group_size=None, **types):
    """rows: {column: list}; types: {column: pa type} (defaults: what pandas/Spark write)."""
    defaults = {"age": pa.float64(), "city": pa.large_string(), "count": pa.int32(),
                "hist": pa.list_(pa.int64()), "label": pa.int64(), "extra": pa.string()}
    defaults.update(types)
    table = pa.table({k: pa.array(v, type=defaults[k]) for k, v in rows.items()})
    pq.write_table(table, str(path), row_group_size=row_group_size)
    return str(path)


def rows(n, start=0):
    ids = list(range(start, start + n))
    return {"age": [float(i) for i in ids], "city": [f"c{i}" for i in ids], "count": ids,
            "hist": [list(range(i % 3)) for i in ids], "label": [i % 2 for i in ids],
            "extra": ["x"] * n}


def collect(dataset):
    features, targets = {}, {}
    for f, t in dataset:
        for k, v in f.items():
            values = v.numpy().tolist()
            if k == "hist":
                values = [[x.decode() for x in row if x] for row in values]
            features.setdefault(k, []).extend(values)
        for k, v in t.items():
            targets.setdefault(k, []).extend(v.numpy().tolist())
    return features, targets


def test_types_are_cast_and_lists_read_natively(tmp_path):
    path = write(tmp_path / "a.parquet", rows(5))
    dataset = build_dataset(data_config(), [path], training=False)
    features, targets = next(iter(dataset))
    assert features["age"].dtype == tf.float32 and features["count"].dtype == tf.int64
    assert features["city"].dtype == tf.string and features["hist"].shape[0] == 2
    assert targets["label"].dtype == tf.float32
    features, targets = collect(dataset)
    assert features["age"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert features["city"] == [b"c0", b"c1", b"c2", b"c3", b"c4"]
    assert features["count"] == [0, 1, 2, 3, 4]
    assert features["hist"] == [[], ["0"], ["0", "1"], [], ["0"]]
    assert targets["label"] == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert count_rows(data_config(), [path]) == 5


def test_matches_the_csv_input(tmp_path):
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("age,city,count,hist,label\n31,paris,2,a;b,1\n7.5,rome,-3,,0\n")
    csv = text_format.Parse(DATA.replace("format: PARQUET", "format: CSV").replace(" is_list: true", ""),
                            data_pb2.DataConfig())
    parquet_path = write(tmp_path / "a.parquet", {
        "age": [31.0, 7.5], "city": ["paris", "rome"], "count": [2, -3], "hist": [["a", "b"], []],
        "label": [1, 0]}, hist=pa.list_(pa.string()))
    (csv_features, csv_targets), = build_dataset(csv, [str(csv_path)], training=False)
    (features, targets), = build_dataset(data_config(batch_size=4), [parquet_path], training=False)
    for name in ("age", "city", "count"):
        np.testing.assert_array_equal(features[name], csv_features[name])
    np.testing.assert_array_equal(targets["label"], csv_targets["label"])
    assert features["hist"].numpy().tolist() == [[b"a", b"b"], [b"", b""]]


def test_nulls_take_defaults_or_are_bad_rows(tmp_path, capfd):
    data = rows(4)
    data["age"][1] = None  # has a default: -1
    data["hist"][2] = None  # a null list: empty
    data["city"][3] = None  # no default: a bad row
    path = write(tmp_path / "nulls.parquet", data)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Malformed Parquet row in .*nulls.parquet:4: "
                       r"column city is null and the field has no default_value \(set default_value"):
        collect(build_dataset(data_config(), [path], training=False))
    features, targets = collect(build_dataset(data_config("skip_bad_rows: true"), [path], training=False))
    assert features["age"] == [0.0, -1.0, 2.0]
    assert features["hist"] == [[], ["0"], []]
    assert targets["label"] == [0.0, 1.0, 0.0]
    assert "skipped 1 Parquet rows" in capfd.readouterr().err


@pytest.mark.parametrize("column,value,reason", [
    ("age", float("nan"), "column age is not a finite 32-bit float: nan"),
    ("age", 1e39, "column age is not a finite 32-bit float: inf"),  # a float64 beyond float32
    ("label", 2, r"label label is not 0 or 1 \(binary cross-entropy\): 2"),
])
def test_non_finite_values_and_bad_binary_labels_are_malformed_rows(tmp_path, column, value, reason):
    data = rows(6)
    data[column][4] = value
    path = write(tmp_path / "values.parquet", data, row_group_size=4)
    config = data_config(batch_size=4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"Malformed Parquet row in {path}:5: {reason}\."):
        collect(build_dataset(config, [path], training=False, binary_labels={"label": (0.0, 1.0)}))
    if column == "label":  # not a binary task (e.g. regression): any finite label is read
        assert collect(build_dataset(config, [path], training=False))[1]["label"][4] == 2.0


def test_bad_values_are_skipped_reported_or_set_to_default(tmp_path, capfd):
    data = rows(8)
    data["age"][1] = float("inf")
    data["label"][2] = 3  # outside {0, 1, -1}
    data["label"][3] = -1  # the task's ignore_label_value
    data["city"][5] = None  # no default: also bad, named for its own column
    data["age"][5] = float("nan")  # the first problem of row 6 in column order: age
    data["label"][6] = float("nan")
    path = write(tmp_path / "values.parquet", data, row_group_size=3, label=pa.float64())
    labels = {"label": (-1.0, 0.0, 1.0)}
    features, targets = collect(build_dataset(data_config("skip_bad_rows: true", batch_size=4), [path],
                                              training=False, binary_labels=labels))
    assert features["count"] == [0, 3, 4, 7]
    assert targets["label"] == [0.0, -1.0, 0.0, 1.0]
    err = capfd.readouterr().err
    assert err.count("skipped 2 Parquet rows") == 1 and err.count("skipped 1 Parquet rows") == 2  # per row group
    assert f"{path}:2: column age is not a finite 32-bit float: inf" in err
    assert f"{path}:3: label label is not 0 or 1 (or the ignored -1) (binary cross-entropy): 3" in err
    assert f"{path}:6: column age is not a finite 32-bit float: nan" in err
    assert f"{path}:7: column label is not a finite 32-bit float: nan" in err
    # non_finite_to_default: nan and inf take the default (age: -1; label: 0); bad labels stay bad.
    config = data_config("non_finite_to_default: true skip_bad_rows: true", batch_size=4)
    features, targets = collect(build_dataset(config, [path], training=False, binary_labels=labels))
    assert features["count"] == [0, 1, 3, 4, 6, 7]
    assert features["age"] == [0.0, -1.0, 3.0, 4.0, 6.0, 7.0]
    assert targets["label"] == [0.0, 1.0, -1.0, 0.0, 0.0, 1.0]
    assert "6: column city is null" in capfd.readouterr().err


def test_dictionary_and_plain_string_columns_read_the_same(tmp_path):
    from easyrank.data import parquet_reader
    data = rows(7)
    data["city"][2] = None
    data["city"][5] = "c1"
    config = data_config('input_fields { name: "extra" type: STRING default_value: "none" }', batch_size=3)
    config.input_fields[1].default_value = "?"
    dictionary = write(tmp_path / "dictionary.parquet", data, row_group_size=3)  # pyarrow's default
    categorical = tmp_path / "categorical.parquet"  # a dictionary column type (pandas' category)
    pq.write_table(pa.table({k: pa.array(v) for k, v in data.items()}).set_column(
        1, "city", pa.array(data["city"]).dictionary_encode()), str(categorical), row_group_size=3)
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({k: pa.array(v) for k, v in data.items()}), str(plain), use_dictionary=False)
    expected = [b"c0", b"c1", b"?", b"c3", b"c4", b"c1", b"c6"]
    for paths, dictionary_read in (([dictionary], True), ([str(categorical)], True), ([str(plain)], False),
                                   ([dictionary, str(plain)], False)):
        reader = parquet_reader.ParquetReader(config, paths)
        assert ("city" in reader._dictionary) == dictionary_read
        features, _ = collect(build_dataset(config, paths, training=False))
        assert features["city"] == expected * len(paths)
        assert features["extra"] == [b"x"] * 7 * len(paths)
        shuffle = type(config)()
        shuffle.CopyFrom(config)
        shuffle.shuffle, shuffle.shuffle_buffer_size = True, 4  # rows taken across row groups and files
        shuffled = collect(build_dataset(shuffle, paths, training=True, seed=1))[0]
        assert shuffled["count"] != list(range(7)) * len(paths)
        assert sorted(zip(shuffled["count"], shuffled["city"])) == sorted(
            zip(list(range(7)) * len(paths), expected * len(paths)))
    # Plain pages of a column read as a dictionary (a writer's fallback) give the same values.
    reader = parquet_reader.ParquetReader(config, [str(plain)])
    reader._dictionary.add("city")
    features, _ = collect(reader.dataset(3))
    assert features["city"] == expected


def test_several_files_globs_and_row_groups(tmp_path):
    write(tmp_path / "part-0.parquet", rows(5), row_group_size=2)
    write(tmp_path / "part-1.parquet", rows(3, start=5), row_group_size=2)
    features, _ = collect(build_dataset(data_config(batch_size=3), [str(tmp_path / "part-*.parquet")],
                                        training=False))
    assert features["count"] == list(range(8))


def test_shuffle_is_a_seeded_permutation_and_resume_skips_batches(tmp_path):
    path = write(tmp_path / "a.parquet", rows(40), row_group_size=5)
    config = data_config("shuffle_buffer_size: 10", batch_size=4, shuffle=True)
    run = lambda **kw: collect(build_dataset(config, [path], training=True, **kw))[0]["count"]  # noqa: E731
    first = run(seed=1, num_epochs=2)
    assert sorted(first[:40]) == list(range(40)) and sorted(first[40:]) == list(range(40))
    assert first[:40] != list(range(40)) and first[:40] != first[40:]  # reshuffled each epoch
    assert run(seed=1, num_epochs=2) == first
    assert run(seed=2, num_epochs=2) != first
    assert run(seed=1, num_epochs=2, skip_batches=7) == first[28:]
    # Rows are mixed across row groups, not only row groups reordered.
    groups = [first[i:i + 5] for i in range(0, 40, 5)]
    assert any(len({v // 5 for v in group}) > 1 for group in groups)


def test_cache_serves_epochs_from_memory(tmp_path):
    path = write(tmp_path / "a.parquet", rows(10), row_group_size=3)
    config = data_config("cache: true", batch_size=4, shuffle=True)
    counts = collect(build_dataset(config, [path], training=True, num_epochs=2, seed=3))[0]["count"]
    assert sorted(counts) == sorted(list(range(10)) * 2)
    again = collect(build_dataset(config, [path], training=True, num_epochs=2, seed=3, skip_batches=2))
    assert again[0]["count"] == counts[8:]


@pytest.mark.parametrize("files,groups", [(4, 1), (1, 4), (1, 1)])
def test_sharding_by_file_row_group_or_row_covers_every_row_once(tmp_path, files, groups):
    paths = [write(tmp_path / f"p{i}.parquet", rows(12, start=12 * i), row_group_size=12 // groups)
             for i in range(files)]
    seen = []
    for shard in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=shard,
                                             num_replicas_in_sync=2)
        counts = collect(build_dataset(data_config(batch_size=4), paths, training=False,
                                       input_context=context))[0]["count"]
        assert counts
        seen += counts
    assert sorted(seen) == list(range(12 * files))


@pytest.mark.parametrize("change,message", [
    ({"drop": "count"}, r"bad.parquet: the Parquet schema has no column 'count'"),
    ({"count": pa.string()}, r"bad.parquet: column 'count' has Parquet type string, but the field is INT64"),
    ({"age": pa.string()}, r"column 'age' has Parquet type string, but the field is FLOAT"),
    ({"city": pa.int64()}, r"column 'city' has Parquet type int64, but the field is STRING"),
    ({"hist": pa.string()}, r"column 'hist' .* the field sets is_list"),
])
def test_schema_mismatch_names_file_and_column(tmp_path, change, message):
    data = rows(3)
    types = {}
    if "drop" in change:
        del data[change["drop"]]
    else:
        (name, arrow_type), = change.items()
        data[name] = [1, 2, 3] if pa.types.is_integer(arrow_type) else [str(v) for v in data[name]]
        types[name] = arrow_type
    path = write(tmp_path / "bad.parquet", data, **types)
    with pytest.raises(DataError, match=message):
        build_dataset(data_config(), [path], training=False)


def test_corrupt_empty_and_missing_files(tmp_path):
    good = write(tmp_path / "good.parquet", rows(3))
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "corrupt.parquet").write_bytes(open(good, "rb").read()[:-20])
    for name in ("empty.parquet", "corrupt.parquet"):
        with pytest.raises(DataError, match=rf"{name}: cannot read it as a Parquet file"):
            build_dataset(data_config(), [str(tmp_path / name)], training=False)
    with pytest.raises(DataError, match="matches no file"):
        build_dataset(data_config(), [str(tmp_path / "nothing-*.parquet")], training=False)
    no_rows = write(tmp_path / "no_rows.parquet", {k: v[:0] for k, v in rows(3).items()})
    with pytest.raises(DataError, match="has no rows"):
        build_dataset(data_config(), [no_rows], training=False)
