"""Feature columns: the in-graph transform of one input field plus its embedding.

A column maps a dict of raw batched inputs to a [B, width] tensor. Transforms
(hashing, vocabulary look-up, bucketing, normalisation) are TensorFlow ops, so
they are part of every exported SavedModel. Embedding tables are created once
per embedding name and shared by the columns that name them.
"""

import re

import tensorflow as tf

from easyrank.embeddings.initializers import TableOptions
from easyrank.errors import ConfigError
from easyrank.io import files, schemes


class Column:
    """Base class: `name`, output `width`, and `__call__(features, tables)`."""

    table_options = TableOptions()

    def __init__(self, name, input_name, width):
        self.name = name
        self.input_name = input_name
        self.width = width

    def table_spec(self):
        """(embedding name, rows, dim) of the table this column needs, or None."""
        return None

    def link(self, columns):
        """Called once every column is built ({feature name: Column}), for a column that takes
        settings from another (side information from its sequence); nothing by default."""


class IdColumn(Column):
    """One categorical id per row -> an embedding row."""

    def __init__(self, name, input_name, index, embedding_name, embedding_dim):
        super().__init__(name, input_name, embedding_dim)
        self.index = index
        self.embedding_name = embedding_name

    def table_spec(self):
        return self.embedding_name, self.index.size, self.width

    def index_values(self, features):
        """The raw values this column looks up in a batch (for a dynamic table's update)."""
        return features[self.input_name]

    def __call__(self, features, tables):
        ids = self.index(features[self.input_name])
        return tf.nn.embedding_lookup(tables[self.embedding_name], ids)


class CrossColumn(IdColumn):
    """The hashed cross of several categorical inputs -> an embedding row (tf.sparse.cross_hashed)."""

    def __init__(self, name, input_names, num_buckets, embedding_name, embedding_dim):
        super().__init__(name, input_names[0], _CrossIndex(input_names, num_buckets), embedding_name,
                         embedding_dim)
        self.input_names = list(input_names)

    def __call__(self, features, tables):
        return tf.nn.embedding_lookup(tables[self.embedding_name], self.index(features))


class _CrossIndex:
    """{input: [B]} -> [B] cross ids in [0, size): one hashed value per row."""

    def __init__(self, input_names, size):
        self.input_names, self.size = list(input_names), size

    def trackables(self):
        return []

    def __call__(self, features):
        columns = []
        for name in self.input_names:
            values = features[name]
            if values.dtype != tf.string:
                values = tf.strings.as_string(values)
            columns.append(tf.reshape(values, [-1, 1]))
        crossed = tf.sparse.cross_hashed(columns, num_buckets=self.size)
        # Each input holds one value per row, so the cross holds exactly one per row, in row order.
        return tf.reshape(crossed.values, [-1])


class LookupColumn(Column):
    """The value of a map field ("k1:v1|k2:v2") at the row's key: a number [B, 1] or an embedded id."""

    def __init__(self, name, map_input, key_input, separator, kv_separator, default, normalizer=None,
                 num_buckets=0, embedding_name="", embedding_dim=0):
        super().__init__(name, map_input, embedding_dim if num_buckets else 1)
        self.key_input, self.separator, self.kv_separator = key_input, separator, kv_separator
        self.default = default
        self.number = RawColumn(name, map_input, normalizer, [], "", 0) if not num_buckets else None
        self.num_buckets, self.embedding_name = num_buckets, embedding_name

    def table_spec(self):
        return (self.embedding_name, self.num_buckets, self.width) if self.num_buckets else None

    def lookup(self, maps, keys):
        """[B] value strings: the value of each row's key in its map, or the default."""
        if keys.dtype != tf.string:
            keys = tf.strings.as_string(keys)
        pairs = tf.strings.split(maps, self.separator)
        kv = tf.strings.split(pairs.flat_values, self.kv_separator, maxsplit=1).to_tensor(
            default_value="", shape=[None, 2])
        rows = pairs.value_rowids()
        match = tf.equal(kv[:, 0], tf.gather(keys, rows))
        position = tf.range(tf.size(rows, out_type=tf.int64), dtype=tf.int64)
        none = tf.size(rows, out_type=tf.int64)
        first = tf.math.unsorted_segment_min(tf.where(match, position, none), rows, tf.size(maps))
        first = tf.minimum(first, none)  # rows without pairs get the segment-min identity
        return tf.gather(tf.concat([kv[:, 1], [self.default]], axis=0), first)

    def __call__(self, features, tables):
        values = self.lookup(features[self.input_name], features[self.key_input])
        if self.num_buckets:
            ids = tf.strings.to_hash_bucket_fast(values, self.num_buckets)
            return tf.nn.embedding_lookup(tables[self.embedding_name], ids)
        numeric = tf.strings.regex_full_match(values, _FLOAT_PATTERN)
        default = float(self.default) if re.fullmatch(_FLOAT_PATTERN, self.default) else 0.0
        x = tf.where(numeric, tf.strings.to_number(tf.where(numeric, values, "0")), default)
        return self.number.normalize(x)[:, None]


_FLOAT_PATTERN = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"


class VectorColumn(Column):
    """A fixed-length vector -> [B, dimension], or projected to [B, D]. The input is one delimited
    string per row ([B] strings), or the vector itself ([B, dimension] floats: a float_list field
    with `length`)."""

    def __init__(self, name, input_name, dimension, separator, embedding_name="", embedding_dim=0):
        super().__init__(name, input_name, embedding_dim or dimension)
        self.dimension, self.separator = dimension, separator
        self.embedding_name, self.embedding_dim = embedding_name, embedding_dim

    def table_spec(self):
        return (self.embedding_name, self.dimension, self.embedding_dim) if self.embedding_dim else None

    def parse(self, values):
        """[B] strings -> [B, dimension] float32 ("" is the zero vector); floats pass through."""
        if values.dtype != tf.string:
            return tf.ensure_shape(tf.cast(values, tf.float32), [None, self.dimension])
        parts = tf.strings.split(values, self.separator)
        parts = tf.ragged.boolean_mask(parts, tf.strings.strip(parts) != "")
        lengths = parts.row_lengths()
        ok = tf.reduce_all((lengths == self.dimension) | (values == ""))
        check = tf.debugging.Assert(ok, [f"vector feature {self.name!r}: a row has another number of values "
                                         f"than dimension {self.dimension}; row lengths:", lengths], summarize=8)
        with tf.control_dependencies([check]):
            numbers = tf.strings.to_number(parts.flat_values, tf.float32)
        dense = parts.with_flat_values(numbers).to_tensor(0.0, shape=[None, self.dimension])
        return tf.ensure_shape(dense, [None, self.dimension])

    def __call__(self, features, tables):
        x = self.parse(features[self.input_name])
        if self.embedding_dim:
            return tf.matmul(x, tf.cast(tables[self.embedding_name], x.dtype))
        return x


class TagColumn(Column):
    """Separator-joined values, or a [B, N] list padded with "" -> pooled embedding (sum or mean;
    empty -> zeros).

    Weighted tags: `kv_separator` reads "a:0.3|b:0.7", `weight_input` a parallel field
    "0.3|0.7"; pooling is then sum(w e) or sum(w e) / sum(w). A value without a weight weighs 1.
    """

    def __init__(self, name, input_name, index, embedding_name, embedding_dim, separator, mean,
                 kv_separator="", weight_input=""):
        super().__init__(name, input_name, embedding_dim)
        self.index = index
        self.embedding_name = embedding_name
        self.separator = separator
        self.mean = mean
        self.kv_separator, self.weight_input = kv_separator, weight_input

    def table_spec(self):
        return self.embedding_name, self.index.size, self.width

    def index_values(self, features):
        """The raw values this column looks up in a batch (for a dynamic table's update)."""
        values = tf.strings.split(features[self.input_name], self.separator)
        if values.ragged_rank > 1:
            values = values.merge_dims(1, 2)
        values = tf.boolean_mask(values.flat_values, values.flat_values != "")
        if self.kv_separator:
            values = tf.strings.split(values, self.kv_separator, maxsplit=1).to_tensor(
                default_value="", shape=[None, 2])[:, 0]
        return values

    def __call__(self, features, tables):
        if self.weight_input:
            return self._weighted_by_input(features, tables)
        values, rows, n = split_rows(features[self.input_name], self.separator)
        keep = values != ""
        values, rows = tf.boolean_mask(values, keep), tf.boolean_mask(rows, keep)
        weights = None
        if self.kv_separator:
            pairs = tf.strings.split(values, self.kv_separator, maxsplit=1).to_tensor(
                default_value="", shape=[None, 2])
            weights = _weights(pairs[:, 1], self.name)
            values = pairs[:, 0]
        vectors = tf.nn.embedding_lookup(tables[self.embedding_name], self.index(values))
        if weights is not None:
            vectors = vectors * tf.expand_dims(tf.cast(weights, vectors.dtype), -1)
        pooled = tf.math.unsorted_segment_sum(vectors, rows, n)
        if self.mean:
            counts = tf.ones_like(rows, vectors.dtype) if weights is None else tf.cast(weights, vectors.dtype)
            pooled = tf.math.divide_no_nan(pooled, tf.math.unsorted_segment_sum(counts, rows, n)[:, None])
        return pooled

    def _weighted_by_input(self, features, tables):
        """Weights from a parallel field (`weight_input`), one per value."""
        values = tf.strings.split(features[self.input_name], self.separator)
        if values.ragged_rank > 1:  # a [B, N] list (is_list input): its elements, split too
            values = values.merge_dims(1, 2)
        keep = values != ""
        values = tf.ragged.boolean_mask(values, keep)
        parts = tf.strings.split(features[self.weight_input], self.separator)
        if parts.ragged_rank > 1:
            parts = parts.merge_dims(1, 2)
        parts = tf.ragged.boolean_mask(parts, keep)
        tf.debugging.assert_equal(parts.row_lengths(), values.row_lengths(), message=(
            f"tag feature {self.name!r}: {self.weight_input!r} has another number of weights than values"))
        weights = parts.with_flat_values(_weights(parts.flat_values, self.name))
        ids = tf.ragged.map_flat_values(self.index, values)
        vectors = tf.ragged.map_flat_values(tf.nn.embedding_lookup, tables[self.embedding_name], ids)
        vectors = vectors * tf.expand_dims(weights, -1)
        pooled = tf.reduce_sum(vectors, axis=1)
        if self.mean:
            pooled = tf.math.divide_no_nan(pooled, tf.reduce_sum(weights, axis=1)[:, None])
        return pooled


def split_rows(x, separator):
    """[B] joined strings or [B, N] lists -> (values, rows, B): every separated value (empty
    ones included) in row order, the row each belongs to (int64) and the batch size.

    Plain ops on the split's flat values: building a graph of ragged ops (boolean_mask,
    reduce_sum over ragged rows) costs several times as much tracing (issue 23).
    """
    x = tf.convert_to_tensor(x)
    shape = tf.shape(x, out_type=tf.int64)
    if x.shape.rank == 2:  # a [B, N] list: each element is split too; its row is index // N
        parts = tf.strings.split(tf.reshape(x, [-1]), separator)
        return parts.flat_values, parts.value_rowids() // shape[1], shape[0]
    parts = tf.strings.split(x, separator)
    return parts.flat_values, parts.value_rowids(), shape[0]


def _weights(text, name):
    """Tag weights from text: "" -> 1; anything else must be a number."""
    numeric = tf.strings.regex_full_match(text, _FLOAT_PATTERN) | tf.equal(text, "")
    check = tf.debugging.Assert(tf.reduce_all(numeric), [f"tag feature {name!r}: a weight is not a number:",
                                                         tf.boolean_mask(text, ~numeric)], summarize=3)
    with tf.control_dependencies([check]):
        return tf.strings.to_number(tf.where(tf.equal(text, ""), "1", text))


class RawColumn(Column):
    """A number -> normalized value [B, 1], a linear map [B, D], or a bucket embedding."""

    def __init__(self, name, input_name, normalizer, boundaries, embedding_name, embedding_dim):
        width = embedding_dim if embedding_dim else 1
        super().__init__(name, input_name, width)
        self.log1p = normalizer.log1p
        self.zscore = (normalizer.mean, normalizer.std) if normalizer.HasField("std") else None
        self.min_max = (normalizer.min, normalizer.max) if normalizer.HasField("min") else None
        self.boundaries = list(boundaries)
        self.embedding_name = embedding_name
        self.embedding_dim = embedding_dim

    def table_spec(self):
        if self.boundaries:
            return self.embedding_name, len(self.boundaries) + 1, self.embedding_dim
        if self.embedding_dim:
            return self.embedding_name, 1, self.embedding_dim
        return None

    def normalize(self, x):
        x = tf.cast(x, tf.float32)
        if self.log1p:
            x = tf.math.log1p(tf.maximum(x, 0.0))
        if self.zscore:
            mean, std = self.zscore
            x = (x - mean) / std
        if self.min_max:
            low, high = self.min_max
            x = tf.clip_by_value((x - low) / (high - low), 0.0, 1.0)
        return x

    def __call__(self, features, tables):
        x = self.normalize(features[self.input_name])
        if self.boundaries:
            buckets = tf.raw_ops.Bucketize(input=x, boundaries=self.boundaries)
            return tf.nn.embedding_lookup(tables[self.embedding_name], buckets)
        if self.embedding_dim:
            return x[:, None] * tables[self.embedding_name][0][None, :]
        return x[:, None]


class StringIndex:
    """Value -> row id: hashing, a vocabulary (list or asset file) or identity."""

    def __init__(self, feature, path):
        self.size = None
        self._table = None
        self._hash = None
        self._identity = None
        if feature.HasField("hash_bucket_size"):
            self._hash = feature.hash_bucket_size
            self.size = feature.hash_bucket_size
        elif getattr(feature, "num_buckets", 0):
            self._identity = feature.num_buckets
            self.size = feature.num_buckets + 1
        else:
            if feature.vocab_list:
                keys = list(feature.vocab_list)
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(keys), tf.range(len(keys), dtype=tf.int64))
                count = len(keys)
            else:
                count = _check_vocab_file(feature.vocab_file, path + ".vocab_file")
                init = tf.lookup.TextFileInitializer(
                    feature.vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
            self._table = tf.lookup.StaticVocabularyTable(init, feature.num_oov_buckets)
            self.size = count + feature.num_oov_buckets

    @property
    def hashed(self):
        """Whether ids are hash buckets (no fixed meaning per row)."""
        return self._hash is not None

    def trackables(self):
        return [self._table] if self._table is not None else []

    def __call__(self, values):
        if self._identity is not None:
            values = tf.cast(values, tf.int64)
            inside = tf.logical_and(values >= 0, values < self._identity)
            return tf.where(inside, values, self._identity)
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        if self._hash is not None:
            return tf.strings.to_hash_bucket_fast(values, self._hash)
        return self._table.lookup(values)


def _check_vocab_file(vocab_file, path):
    """The number of entries of a vocabulary file; each line must be unique UTF-8 text."""
    seen = {}
    try:
        for number, value in enumerate(files.vocabulary_lines(vocab_file), 1):  # as TensorFlow reads it
            if not value:
                raise ConfigError(f"{vocab_file} line {number} is empty: TensorFlow's vocabulary "
                                  "tables refuse empty lines; remove it.", path=path)
            if value in seen:
                raise ConfigError(f"{vocab_file} line {number}: duplicate vocabulary entry "
                                  f"{value!r} (also line {seen[value]}); each value needs one row.",
                                  path=path)
            seen[value] = number
    except (OSError, tf.errors.OpError) as e:
        raise ConfigError(f"cannot read vocab_file: {schemes.first_line(e)}.", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{vocab_file} is not UTF-8 text.", path=path) from None
    return len(seen)
