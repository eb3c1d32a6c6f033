"""The retrieval corpus: one row of item features per candidate item.

    corpus = read_candidates(path, data_config, ["movie_id", "genres"], "movie_id")
    corpus.ids, corpus.features["genres"], corpus.index_of(ids)

A candidate file is a CSV file with a header (optionally gzip-compressed), read
through tf.io.gfile; its columns are typed as data_config.input_fields types them,
an empty cell takes the field's default. Ids must be present and unique.
"""

import csv
import gzip
import io

import numpy as np
import tensorflow as tf

from easyrank.data.fields import default_value, field_dtype
from easyrank.errors import DataError
from easyrank.protos import data_pb2


class Corpus:
    """Candidate items: ids [N] (bytes), features {field: [N] array}, optional weights [N]."""

    def __init__(self, ids, features, weights=None, source=""):
        self.ids = np.asarray(ids, dtype=object)
        self.features = dict(features)
        self.weights = None if weights is None else np.asarray(weights, np.float64)
        self.source = source
        self._row = {item: i for i, item in enumerate(self.ids)}

    def __len__(self):
        return len(self.ids)

    def index_of(self, ids):
        """Corpus row of each id, -1 for ids not in the corpus."""
        return np.array([self._row.get(_as_bytes(i), -1) for i in np.asarray(ids).reshape(-1)],
                        np.int64)


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, (int, np.integer)):
        return str(int(value)).encode()
    return str(value).encode()


def read_candidates(path, data_config, fields, id_field, weight_field=None):
    """Reads a candidate file; DataError (file, row, column) on a bad or duplicate row."""
    by_name = {f.name: f for f in data_config.input_fields}
    if not tf.io.gfile.exists(path):
        raise DataError(f"{path}: the candidate file does not exist "
                        "(model_config.retrieval.candidate_path).")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode("utf-8")))
    header = next(reader, None)
    wanted = list(dict.fromkeys([id_field] + list(fields) + ([weight_field] if weight_field else [])))
    missing = [name for name in wanted if name not in (header or [])]
    if missing:
        raise DataError(f"{path}: the header lacks the column(s) {', '.join(missing)}; a candidate "
                        f"file holds {id_field} and every input field the item tower reads.")
    column = {name: header.index(name) for name in wanted}
    ids, seen, values = [], {}, {name: [] for name in wanted if name != weight_field}
    weights = []
    for row_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, row {row_number}: {len(row)} cells, the header has {len(header)}.")
        item = row[column[id_field]]
        if not item:
            raise DataError(f"{path}, row {row_number}: the id column {id_field} is empty; every "
                            "candidate needs an id.")
        if item in seen:
            raise DataError(f"{path}, row {row_number}: id {item!r} of column {id_field} already "
                            f"appeared in row {seen[item]}; candidate ids must be unique.")
        seen[item] = row_number
        ids.append(item.encode())
        for name in values:
            values[name].append(_parse(row[column[name]], by_name.get(name), path, row_number, name))
        if weight_field:
            weights.append(_weight(row[column[weight_field]], path, row_number, weight_field))
    if not ids:
        raise DataError(f"{path}: the candidate file has no rows.")
    if weight_field and not sum(weights) > 0:
        raise DataError(f"{path}: the weights in column {weight_field} are all 0.")
    features = {name: np.array(v, dtype=object if _is_string(by_name.get(name)) else
                               field_dtype(by_name[name]).as_numpy_dtype)
                for name, v in values.items()}
    return Corpus(ids, features, weights if weight_field else None, source=path)


def _is_string(field):
    return field is None or field.type == data_pb2.InputField.STRING


def _parse(cell, field, path, row_number, name):
    if field is None or field.type == data_pb2.InputField.STRING:
        return (cell or (field.default_value if field else "")).encode()
    if cell == "":
        return default_value(field)
    try:
        number = float(cell)
    except ValueError:
        raise DataError(f"{path}, row {row_number}: column {name} holds {cell!r}, not a number.") from None
    if field.type == data_pb2.InputField.INT64:
        if number != int(number):
            raise DataError(f"{path}, row {row_number}: column {name} holds {cell!r}, not an integer.")
        return int(number)
    return number


def _weight(cell, path, row_number, name):
    try:
        weight = float(cell)
    except ValueError:
        weight = -1.0
    if not weight >= 0:
        raise DataError(f"{path}, row {row_number}: column {name} holds {cell!r}; weights are "
                        "numbers >= 0.")
    return weight


def corpus_from_batches(batches, fields, id_field, source="the training data"):
    """The corpus of every item in `batches` (feature dicts of numpy arrays): first row per id."""
    ids, features, seen = [], {name: [] for name in fields}, set()
    for batch in batches:
        for i, item in enumerate(batch[id_field]):
            key = _as_bytes(item)
            if key in seen or key == b"":
                continue
            seen.add(key)
            ids.append(key)
            for name in fields:
                features[name].append(batch[name][i])
    if not ids:
        raise DataError(f"{source} holds no item ids in {id_field}: the corpus is empty.")
    return Corpus(ids, {name: np.array(v) for name, v in features.items()}, source=source)
