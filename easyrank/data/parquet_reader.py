"""Parquet input read with pyarrow: whole column arrays per batch, no per-row Python.

The unit of reading is a row group: only the columns of data_config.input_fields
are read, row group by row group, and handed to tf.data batch by batch through
one generator (tf.data.Dataset.from_generator) that yields chunks of about
16k rows as NumPy arrays per column: numbers without a copy; strings as Arrow
holds them, one bytes object of their characters and int32 offsets, cut into
a string tensor by tf.strings.substr in the graph (no Python object per value);
string columns that every file dictionary-encodes (the writers' default) as
int32 indices and their dictionary's values, gathered in the graph (the
characters of each row are never copied); list columns as such strings and row
lengths, made a [B, N] string tensor padded with "" in the graph, as tf.Example
lists are. tf.data.Dataset.rebatch cuts the chunks into batches in C++. The
Python work is thus per chunk and per column, not per row or batch.

Training shuffles in two stages, both in Arrow (C++): the order of the row
groups of all files, drawn each epoch from (seed, epoch), then rows in a buffer
of shuffle_buffer_size rows (when the buffer is full, a random permutation of
it is taken, its first part is emitted and the rest stays in the buffer). The
same seed gives the same batches, so resuming with skip_batches (rows skipped
in Arrow, without converting them) lands on the same rows. As in the other inputs,
batches run across epoch boundaries.

Schemas are checked against the config when the reader is made (a missing
column, a column of another kind, a corrupt or empty file raise DataError
naming the file and column). Nulls take the field's default_value when it sets
one; otherwise the row is bad. Values are checked as the CSV and TFRecord inputs
check them (easyrank/data/values.py), but in NumPy per row group: a nan or inf
(or a float64 beyond float32) in a FLOAT feature, label or sample weight, or a
label other than 0 and 1 (or the ignored value) of a binary task, makes the row
bad, unless non_finite_to_default turns non-finite values into the field's
default. A bad row is an error naming file, row and column, or with
skip_bad_rows dropped and reported on stderr.
"""

import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf

from easyrank.data import fields as fields_lib
from easyrank.data.values import FINITE_NUMBER, ClassRange, VectorSpec, class_reason, vector_reasons
from easyrank.errors import DataError
from easyrank.io import arrow
from easyrank.protos import data_pb2

BAD_ROW_MARKER = "Malformed Parquet row"
_CHUNK_ROWS = 16384  # rows per generator element (a multiple of the batch size)
_STRINGS = (pa.types.is_string, pa.types.is_large_string)
# A dictionary page at least this large may have made the writer fall back to plain pages
# (pyarrow's and parquet-mr's default dictionary_pagesize_limit): such columns are read plain.
_DICTIONARY_PAGE_LIMIT = 1 << 20
_DICTIONARY = pa.dictionary(pa.int32(), pa.string())
_LISTS = (pa.types.is_list, pa.types.is_large_list)


def _is(kinds, arrow_type):
    return any(kind(arrow_type) for kind in kinds)


def _type_problem(field, arrow_type, is_target):
    """Why a column of `arrow_type` cannot feed `field` (None when it can)."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    integer, floating = pa.types.is_integer(arrow_type), pa.types.is_floating(arrow_type)
    if is_target:
        return None if integer or floating or pa.types.is_boolean(arrow_type) else (
            "labels and sample weights need a number or bool column")
    if field.is_list:
        if not _is(_LISTS, arrow_type):
            return "the field sets is_list, which needs a list column"
        value_type = arrow_type.value_type
        return None if _is(_STRINGS, value_type) or pa.types.is_integer(value_type) else (
            "a list field needs a list of strings or integers")
    if _is(_LISTS, arrow_type):
        return "the column is a list: set is_list: true on the (STRING) field"
    if field.type == data_pb2.InputField.STRING:
        return None if _is(_STRINGS, arrow_type) else (
            "the field is STRING (declare it INT64 or FLOAT for a numeric column)")
    if field.type == data_pb2.InputField.INT64:
        return None if integer else "the field is INT64 and needs an integer column"
    return None if integer or floating else "the field is FLOAT and needs a number column"


def open_parquet(path):
    """pq.ParquetFile of `path`; raises DataError for a missing, empty or corrupt file."""
    try:
        return pq.ParquetFile(arrow.open_input(path))
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{path}: cannot read it as a Parquet file ({e}). Check that the file is "
                        "complete and is Parquet (data_config.format: PARQUET).") from None


class ParquetReader:
    """Reads the Parquet files of one input as batches of (features, targets).

    Args:
      data_config: a DataConfig message.
      files: file names (globs already expanded).
      num_shards, shard: this worker's share of the row groups (or, when there
        are fewer row groups than shards, of the rows of each row group).
      binary_labels: {label field: allowed values} of binary tasks
        (data.binary_labels()); other values make the row malformed.
    """

    def __init__(self, data_config, files, num_shards=1, shard=0, binary_labels=None):
        self._config = data_config
        self._binary = dict(binary_labels or {})
        self._files = list(files)
        self._fields = list(data_config.input_fields)
        self._targets = {n for n in list(data_config.label_fields) + [data_config.sample_weight_field] if n}
        self._columns = [f.name for f in self._fields]
        units = []
        # STRING columns dictionary-encoded in every file: read as dictionaries (indices
        # and a small dictionary of values) instead of one string per row.
        self._dictionary = {f.name for f in self._fields if self._is_string(f)}
        for index, path in enumerate(self._files):
            parquet = open_parquet(path)
            self._check_schema(path, parquet.schema_arrow)
            self._dictionary &= _dictionary_columns(parquet.metadata)
            offset = 0
            for group in range(parquet.metadata.num_row_groups):
                rows = parquet.metadata.row_group(group).num_rows
                if rows:
                    units.append((index, group, offset, rows))
                offset += rows
        if not units:
            raise DataError(f"The Parquet input has no rows: {', '.join(self._files)}.")
        self.num_rows = sum(unit[3] for unit in units)
        self._row_shards = None
        if num_shards > 1 and len(units) >= num_shards:
            units = units[shard::num_shards]
        elif num_shards > 1:
            self._row_shards = (num_shards, shard)
        self._units = units

    def _check_schema(self, path, schema):
        for field in self._fields:
            index = schema.get_field_index(field.name)
            if index < 0:
                raise DataError(f"{path}: the Parquet schema has no column {field.name!r} (declared in "
                                f"data_config.input_fields). Columns: {', '.join(schema.names[:50])}.")
            arrow_type = schema.field(index).type
            problem = _type_problem(field, arrow_type, field.name in self._targets)
            if problem:
                raise DataError(f"{path}: column {field.name!r} has Parquet type {arrow_type}, but "
                                f"{problem}.")

    # ------------------------------------------------------------------ #
    # tf.data
    # ------------------------------------------------------------------ #

    def dataset(self, batch_size, *, num_epochs=1, shuffle=False, seed=None, skip_batches=0):
        """tf.data.Dataset of (features, targets) batches; num_epochs < 0 repeats forever."""
        signature = []
        for field in self._fields:
            if field.is_list or self._is_string(field):  # characters, starts, lengths (, row lengths)
                signature += [tf.TensorSpec([], tf.string), tf.TensorSpec([None], tf.int32),
                              tf.TensorSpec([None], tf.int32)]
                if field.is_list:
                    signature.append(tf.TensorSpec([None], tf.int64))
                if field.name in self._dictionary:  # of the dictionary; then the indices
                    signature.append(tf.TensorSpec([None], tf.int32))
            elif field.name in self._targets:
                signature.append(tf.TensorSpec([None], tf.float32))
            else:
                signature.append(tf.TensorSpec([None], fields_lib.field_dtype(field)))
        chunk = batch_size * max(1, _CHUNK_ROWS // batch_size)
        arrays = tf.data.Dataset.from_generator(
            lambda: self._chunks(chunk, num_epochs, shuffle, seed or 0, skip_batches * batch_size),
            output_signature=tuple(signature))
        to_tensors = tf.autograph.experimental.do_not_convert(self._to_tensors)  # no control flow: trace as is
        tensors = arrays.map(to_tensors, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return tensors.rebatch(batch_size) if chunk != batch_size else tensors

    def _to_tensors(self, *arrays):
        features, targets = {}, {}
        arrays = iter(arrays)
        for field in self._fields:
            value = next(arrays)
            if field.is_list or self._is_string(field):
                value = tf.strings.substr(value, next(arrays), next(arrays))
            if field.name in self._dictionary:
                value = tf.gather(value, next(arrays))
            if field.is_list:
                value = tf.RaggedTensor.from_row_lengths(value, next(arrays)).to_tensor(default_value="")
            (targets if field.name in self._targets else features)[field.name] = value
        return features, targets

    # ------------------------------------------------------------------ #
    # Arrow: row groups -> shuffled tables -> batches of column arrays
    # ------------------------------------------------------------------ #

    def _chunks(self, chunk_rows, num_epochs, shuffle, seed, skip_rows):
        """Yields tuples of column arrays of chunk_rows rows (the last may be smaller)."""
        pending, pending_rows = [], 0
        for table in self._tables(num_epochs, shuffle, seed):
            if skip_rows:
                skipped = min(skip_rows, table.num_rows)
                table, skip_rows = table.slice(skipped), skip_rows - skipped
            pending.append(table)
            pending_rows += table.num_rows
            if pending_rows < chunk_rows:
                continue
            combined = pa.concat_tables(pending)
            start = 0
            while pending_rows - start >= chunk_rows:
                yield self._arrays(combined.slice(start, chunk_rows))
                start += chunk_rows
            pending, pending_rows = [combined.slice(start)], pending_rows - start
        if pending_rows:
            yield self._arrays(pa.concat_tables(pending))

    def _tables(self, num_epochs, shuffle, seed):
        """Tables of rows in reading order: row groups, shuffled through the buffer if asked."""
        handles = {}
        epoch = 0
        buffer_size = max(self._config.shuffle_buffer_size, 1)
        while num_epochs < 0 or epoch < num_epochs:
            rng = np.random.default_rng([seed, epoch])
            order = rng.permutation(len(self._units)) if shuffle else range(len(self._units))
            buffer, buffered = [], 0
            for position in order:
                table = self._read(self._units[position], handles)
                if not shuffle:
                    yield table
                    continue
                buffer.append(table)
                buffered += table.num_rows
                if buffered >= buffer_size:
                    combined = pa.concat_tables(buffer)
                    permutation = rng.permutation(buffered)
                    keep = buffer_size // 2
                    yield combined.take(permutation[keep:])
                    buffer, buffered = [combined.take(permutation[:keep])], keep
            if buffered:
                yield pa.concat_tables(buffer).take(rng.permutation(buffered))
            epoch += 1

    def _read(self, unit, handles):
        """One row group: the configured columns, nulls filled or bad rows handled."""
        index, group, offset, rows = unit
        path = self._files[index]
        try:
            if index not in handles:
                handles[index] = pq.ParquetFile(arrow.open_input(path), read_dictionary=sorted(self._dictionary))
            table = handles[index].read_row_group(group, columns=self._columns)
        except (OSError, pa.ArrowException) as e:
            raise ValueError(f"{BAD_ROW_MARKER} group {group} in {path}: cannot read it ({e}).") from None
        row_numbers = np.arange(offset + 1, offset + rows + 1)
        if self._row_shards:
            num_shards, shard = self._row_shards
            keep = np.flatnonzero((row_numbers - 1) % num_shards == shard)
            table, row_numbers = table.take(keep), row_numbers[keep]
        return self._clean(table, path, row_numbers)

    def _is_string(self, field):
        return field.type == data_pb2.InputField.STRING and not field.is_list and field.name not in self._targets

    def _clean(self, table, path, row_numbers):
        """Columns cast to one type per field, nulls filled with defaults, values checked;
        bad rows raise or go.

        All in Arrow and NumPy, one vectorised step per column of a row group; Python
        builds messages only for the bad rows of a row group that has some.
        """
        problems = []  # (name, [rows] bool, [rows] values or None, reason) in column order
        columns = []
        for field, column in zip(self._fields, table.columns):
            if pa.types.is_uint64(column.type) and field.type == data_pb2.InputField.INT64:
                problems.extend(_beyond_int64(field.name, column))  # the cast would wrap to < 0
            column = self._cast(field, column)
            nulls = None
            if column.null_count:
                if field.is_list:
                    column = pc.fill_null(column, pa.scalar([], type=column.type))
                elif field.HasField("default_value"):
                    default = fields_lib.default_value(field)
                    if field.name in self._targets:
                        default = float(default or 0)
                    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
                    column = pc.fill_null(column, pa.scalar(default, type=value_type))
                else:
                    nulls = column.is_null().to_numpy(zero_copy_only=False)
                    problems.append((field.name, nulls, None,
                                     f"column {field.name} is null and the field has no default_value"))
            if pa.types.is_floating(column.type):
                column = self._check_values(field, column, nulls, problems)
            elif isinstance(self._binary.get(field.name), VectorSpec) and self._is_string(field):
                problems.extend(_vector_problems(field.name, self._binary[field.name], column))
            columns.append(column)
        table = pa.table(columns, names=self._columns)
        if not problems:
            return table
        bad = np.logical_or.reduce([mask for _, mask, _, _ in problems])
        if not bad.any():
            return table
        first = np.zeros(len(bad), np.int64)  # index in problems of each row's first problem
        for index in range(len(problems) - 1, -1, -1):
            first = np.where(problems[index][1], index, first)
        where = []
        for row, problem in zip(np.flatnonzero(bad), first[bad]):
            _, _, values, reason = problems[problem]
            shown = "" if values is None else f": {values[row][:80]}" if isinstance(values[row], str) \
                else f": {float(values[row]):g}"
            where.append(f"{path}:{row_numbers[row]}: {reason}{shown}")
        if not self._config.skip_bad_rows:
            # Raised in the generator of tf.data: arrives as InvalidArgumentError.
            advice = "" if problems[first[bad][0]][2] is not None else (
                " (set default_value on the input field, or skip_bad_rows to drop such rows)")
            raise ValueError(f"{BAD_ROW_MARKER} in {where[0]}{advice}.")
        print(f"easyrank: skipped {len(where)} Parquet rows with nulls without a default_value or "
              "non-finite or invalid values: " + "; ".join(where), file=sys.stderr)
        return table.filter(pa.array(~bad))

    def _check_values(self, field, column, nulls, problems):
        """A float column (feature, label or weight) with non-finite values replaced by the
        field's default (non_finite_to_default) or listed in `problems`, and, for the label of
        a binary task, values other than the allowed ones listed."""
        values = column.to_numpy(zero_copy_only=False)  # nulls (no default: bad rows) read as nan
        finite = np.isfinite(values)
        if nulls is not None:
            finite |= nulls
        if not finite.all():
            if self._config.non_finite_to_default:
                default = 0.0 if field.type == data_pb2.InputField.STRING else float(fields_lib.default_value(field))
                values = np.where(finite, values, np.float32(default))
                column = pa.chunked_array([pa.array(values, mask=nulls)])
                finite = np.ones(len(values), bool)
            else:
                problems.append((field.name, ~finite, values,
                                 f"column {field.name} is not a finite 32-bit float"))
        allowed = self._binary.get(field.name)
        if isinstance(allowed, ClassRange):
            inside = (values >= 0) & (values < allowed.num_classes) & (values == np.floor(values))
            inside |= np.isin(values, np.asarray(allowed.ignored, values.dtype))
            outside = finite & ~inside
            if nulls is not None:
                outside &= ~nulls
            problems.append((field.name, outside, values, class_reason(field.name, allowed)))
        elif allowed:
            outside = finite & ~np.isin(values, np.asarray(allowed, values.dtype))
            if nulls is not None:
                outside &= ~nulls
            extra = [f"{v:g}" for v in allowed if v not in (0.0, 1.0)]
            problems.append((field.name, outside, values, f"label {field.name} is not 0 or 1"
                             + (f" (or the ignored {', '.join(extra)})" if extra else "")
                             + " (binary cross-entropy)"))
        return column

    def _cast(self, field, column):
        """`column` as the field's Arrow type: float32, int64, string or list<string>."""
        if field.name in self._targets:
            dtype = pa.float32()
        elif field.is_list:
            dtype = pa.list_(pa.string())
        elif field.name in self._dictionary:
            dtype = _DICTIONARY
            if not pa.types.is_dictionary(column.type):  # a plain row group (the writer fell back)
                column = column.cast(pa.string()).dictionary_encode()
        elif field.type == data_pb2.InputField.STRING:
            dtype = pa.string()
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
        else:
            dtype = pa.int64() if field.type == data_pb2.InputField.INT64 else pa.float32()
        return column if column.type == dtype else pc.cast(column, dtype, safe=False)

    def _arrays(self, table):
        """NumPy arrays of a chunk: one per number column; characters, starts and lengths
        per string column (of its dictionary, then int32 indices, for a dictionary column);
        those of the values, then row lengths, per list column."""
        arrays = []
        for field, column in zip(self._fields, table.columns):
            column = column.combine_chunks()
            if field.is_list:
                arrays += _string_buffers(pc.fill_null(column.flatten(), ""))
                arrays.append(column.value_lengths().to_numpy(zero_copy_only=False).astype(np.int64))
            elif field.name in self._dictionary:
                arrays += _string_buffers(column.dictionary)
                arrays.append(column.indices.to_numpy(zero_copy_only=False))
            elif self._is_string(field):
                arrays += _string_buffers(column)
            else:
                arrays.append(column.to_numpy(zero_copy_only=False))
        return tuple(arrays)


def _beyond_int64(name, column):
    """[(name, [rows] bool, [rows] strings, reason)] of a uint64 column's values beyond int64
    (2^63 and more: an INT64 field would read 2^64 - 1 as -1), or []."""
    beyond = pc.fill_null(pc.greater(column, pa.scalar(2 ** 63 - 1, pa.uint64())), False)
    beyond = beyond.to_numpy(zero_copy_only=False)
    if not beyond.any():
        return []
    shown = np.asarray([str(v) for v in column.to_pylist()], dtype=object)
    return [(name, beyond, shown, f"column {name} (uint64) is beyond the INT64 range")]


def _vector_problems(name, spec, column):
    """[(name, [rows] bool, [rows] strings, reason)] of a STRING vector column: rows with
    another number of values than spec.dimension ("" is the zero vector), and rows with a
    value that is not a finite 32-bit float (as values.ValueChecker checks CSV and TFRecord)."""
    strings = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(strings.type):
        strings = strings.cast(pa.string())
    strings = pc.fill_null(strings, "")
    parts = pc.split_pattern(strings, spec.separator)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    parents = pc.list_parent_indices(parts).to_numpy(zero_copy_only=False)
    kept = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[kept], minlength=len(strings))
    empty = pc.equal(strings, "").to_numpy(zero_copy_only=False)
    wrong_length = (counts != spec.dimension) & ~empty
    number = pc.match_substring_regex(flat, f"^{FINITE_NUMBER}$").to_numpy(zero_copy_only=False)
    values = np.zeros(len(flat), np.float64)
    if number.any():
        values[number] = pc.cast(pc.filter(flat, pa.array(number)), pa.float64()).to_numpy()
    finite = number & (np.abs(values) <= np.finfo(np.float32).max)
    not_finite = np.bincount(parents[kept & ~finite], minlength=len(strings)) > 0
    shown = np.asarray(strings.to_pylist(), dtype=object) if (wrong_length | not_finite).any() else None
    length_reason, value_reason = vector_reasons(name, spec)
    return [(name, wrong_length, shown, length_reason),
            (name, not_finite & ~wrong_length, shown, value_reason)]


def _string_buffers(strings):
    """(characters as bytes, int32 starts, int32 lengths) of a pa.string array without nulls."""
    _, offsets, data = strings.buffers()
    offsets = np.frombuffer(offsets, np.int32)[strings.offset:strings.offset + len(strings) + 1]
    first = int(offsets[0]) if len(offsets) else 0
    last = int(offsets[-1]) if len(offsets) else 0
    characters = np.frombuffer(data, np.uint8)[first:last].tobytes() if data is not None else b""
    return characters, offsets[:-1] - first, np.diff(offsets)


def _dictionary_columns(metadata):
    """Names of the top-level columns with a dictionary page smaller than the fallback limit in
    every row group of a file's metadata."""
    names = None
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        found = set()
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            if (chunk.has_dictionary_page and chunk.dictionary_page_offset is not None
                    and chunk.data_page_offset - chunk.dictionary_page_offset < _DICTIONARY_PAGE_LIMIT):
                found.add(chunk.path_in_schema)
        names = found if names is None else names & found
    return names or set()


def count_rows(files):
    """Rows of the Parquet files, from their metadata."""
    return sum(open_parquet(path).metadata.num_rows for path in files)
