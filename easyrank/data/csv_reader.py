"""CSV input: lines are batched, then split and converted in one vectorised step.

Every row is checked (number of fields, numbers in numeric columns, then the
values: easyrank/data/values.py). A bad row stops the input with an error
naming the file and line, or, with `skip_bad_rows`, is dropped and reported
on stderr.

Fast path: one regular expression over each whole line checks the field count
and plain numbers (no spaces, inf or nan) in the numeric columns; when every
line of a batch passes, one fused `tf.io.decode_csv` converts the batch. Any
other batch takes the general path (split, per-column checks and conversion),
which also names the bad rows. Both give the same tensors.
"""

import collections
import gzip
import io
import sys

import tensorflow as tf

from easyrank.data import fields as fields_lib
from easyrank.data.values import ValueChecker
from easyrank.errors import DataError
from easyrank.io import files
from easyrank.protos import data_pb2

# A number as tf.strings.to_number reads it, or an empty cell (-> default).
_NUMBER = r"\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan))?\s*"
_INTEGER = r"\s*([-+]?\d+)?\s*"
# Cells that tf.io.decode_csv converts exactly as the general path does.
_PLAIN_NUMBER = r"([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)?"
_PLAIN_INTEGER = r"([-+]?\d+)?"
BAD_ROW_MARKER = "Malformed CSV row"
# Row ids from read_file: file index * 2**_LINE_BITS + line number.
_LINE_BITS = 40


def open_text(path):
    """A CSV file (gzip or plain) opened as UTF-8 text."""
    if path.endswith(".gz"):
        return io.TextIOWrapper(gzip.GzipFile(fileobj=files.open(path, "rb")), encoding="utf-8")
    return files.open(path, "r")


def _compression(files):
    kinds = {"GZIP" if f.endswith(".gz") else "" for f in files}
    if len(kinds) > 1:
        raise DataError("Mixing gzip (.gz) and plain CSV files in one input is not supported: "
                        + ", ".join(files))
    return kinds.pop()


class CsvReader:
    """Reads the CSV files of one input and parses batches of their lines."""

    def __init__(self, data_config, files, binary_labels=None):
        self._config = data_config
        self._values = ValueChecker(data_config, binary_labels, marker=BAD_ROW_MARKER + " in")
        self._delimiter = data_config.csv_delimiter
        self._compression = _compression(files)
        self._header = data_config.csv_header
        columns = self._columns(files)
        self._num_columns = len(columns)
        self._fields = [(f, columns.index(f.name)) for f in data_config.input_fields]
        self._line_pattern = self._plain_line_pattern()
        self._files = tf.constant(list(files), dtype=tf.string)

    def _columns(self, files):
        declared = [f.name for f in self._config.input_fields]
        if not self._header:
            return declared
        first = None
        for path in files:
            try:
                with open_text(path) as f:
                    header = f.readline().rstrip("\r\n").split(self._delimiter)
            except (OSError, UnicodeDecodeError, EOFError, tf.errors.OpError) as e:
                raise DataError(f"Cannot read the header of {path}: {e}.") from None
            missing = [name for name in declared if name not in header]
            if missing:
                raise DataError(f"{path}: the header has no column {', '.join(map(repr, missing))} "
                                f"(declared in data_config.input_fields). Header: {', '.join(header[:50])}.")
            if first is not None and header != first:
                raise DataError(f"{path}: the header differs from that of {files[0]}; all files of an "
                                "input must have the same columns.")
            first = header
        return first

    def read_file(self, filename):
        """Dataset of (row id, line) for one file.

        The row id packs the file's index in this input (high bits) and the line
        number (low _LINE_BITS bits): one int64 per row is cheaper to carry and
        shuffle than the file name; parse_batch unpacks it for error messages.
        """
        lines = tf.data.TextLineDataset(filename, compression_type=self._compression)
        start = 1
        if self._header:
            lines, start = lines.skip(1), 2
        index = tf.argmax(tf.cast(tf.equal(self._files, filename), tf.int64), output_type=tf.int64)
        return lines.enumerate(start=index * (1 << _LINE_BITS) + start)

    def _numeric(self, field):
        return field.type != data_pb2.InputField.STRING or field.name in self._label_names

    def _plain_line_pattern(self):
        """A regex matching exactly the lines the fast path converts (None: no fast path)."""
        if len(self._delimiter) != 1 or self._delimiter in "\r\n":
            return None
        delimiter = "\\x{%x}" % ord(self._delimiter)  # RE2 hex escape, any character
        cell = "[^" + delimiter + "]*"
        patterns = [cell] * self._num_columns
        for field, index in self._fields:
            if self._numeric(field):
                patterns[index] = (_PLAIN_INTEGER if field.type == data_pb2.InputField.INT64
                                   else _PLAIN_NUMBER)
        return delimiter.join(patterns)

    def _decode_plain(self, lines):
        """(features, targets) of lines that all match the plain line pattern."""
        fields = sorted(self._fields, key=lambda item: item[1])
        columns = sorted({index for _, index in fields})
        defaults = {}
        for field, index in fields:
            dtype, default = fields_lib.field_dtype(field), fields_lib.default_value(field)
            if field.name in self._label_names:
                dtype, default = tf.float32, float(default or 0)
            defaults[index] = tf.constant([default], dtype=dtype)
        values = tf.io.decode_csv(lines, [defaults[i] for i in columns],
                                  field_delim=self._delimiter, use_quote_delim=False,
                                  na_value="", select_cols=columns)
        by_column = dict(zip(columns, values))
        features, targets = {}, {}
        for field, index in self._fields:
            (targets if field.name in self._label_names else features)[field.name] = by_column[index]
        return features, targets

    def parse_batch(self, row_ids, lines):
        """Parses a batch of (row id, line) from read_file into (features, targets)."""
        if self._line_pattern is None or len({i for _, i in self._fields}) != len(self._fields):
            return self._parse_general(row_ids, lines)
        plain = tf.reduce_all(tf.strings.regex_full_match(lines, self._line_pattern))
        # The value checks run once, on whichever path's result: traced once (issue 23).
        return self._check_values(*tf.cond(plain, lambda: (row_ids, *self._decode_plain(lines)),
                                           lambda: self._general_rows(row_ids, lines)))

    def _check_values(self, row_ids, features, targets):
        def locate(rows):
            ids = tf.gather(row_ids, rows)
            return (tf.gather(self._files, ids // (1 << _LINE_BITS)) + " at line "
                    + tf.strings.as_string(ids % (1 << _LINE_BITS)))
        return self._values(features, targets, locate)

    def _parse_general(self, row_ids, lines):
        """Checks every row, then converts the batch (bad rows raise or are dropped)."""
        return self._check_values(*self._general_rows(row_ids, lines))

    def _general_rows(self, row_ids, lines):
        """_parse_general before the value checks: (row ids, features, targets) of the rows kept."""
        filenames = tf.gather(self._files, row_ids // (1 << _LINE_BITS))
        line_numbers = row_ids % (1 << _LINE_BITS)
        cells = tf.strings.split(lines, self._delimiter)
        counts = cells.row_lengths()
        table = cells.to_tensor(default_value="", shape=[None, self._num_columns])
        columns = tf.unstack(table, num=self._num_columns, axis=1)  # one op: slicing costs ~40 to trace
        bad = tf.not_equal(counts, self._num_columns)
        reasons = tf.where(bad, f"expected {self._num_columns} fields, found "
                           + tf.strings.as_string(counts), "")
        numeric = [(field, index) for field, index in self._fields if self._numeric(field)]
        if numeric:  # the first cell of a row that is not a number (in field order) names it
            not_number = self._not_numbers(columns, numeric)
            numeric_cells = tf.stack([columns[index] for _, index in numeric], axis=1)
            first = tf.argmax(tf.cast(not_number, tf.int32), axis=1)
            texts = tf.constant([f"column {field.name} is not a number: " for field, _ in numeric])
            number_reasons = tf.gather(texts, first) + tf.strings.substr(
                tf.gather(numeric_cells, first, batch_dims=1), 0, 40)
            any_not_number = tf.reduce_any(not_number, axis=1)
            reasons = tf.where(bad, reasons, tf.where(any_not_number, number_reasons, ""))
            bad = tf.logical_or(bad, any_not_number)
        if self._config.skip_bad_rows:
            table = self._drop_bad_rows(table, bad, filenames, line_numbers)
            row_ids = tf.boolean_mask(row_ids, tf.logical_not(bad))
        else:
            check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [_describe_first(
                bad, filenames, line_numbers, reasons)], summarize=1)
            with tf.control_dependencies([check]):
                table = tf.identity(table)
        return (row_ids, *self._convert(table))

    def _not_numbers(self, columns, numeric):
        """[B, len(numeric)] bool: the cell is not a number its field reads. One regular
        expression per pattern over the stacked columns, not one per column: the general path
        is traced in every CSV pipeline (issue 23)."""
        positions = {}  # pattern -> positions in `numeric`
        for k, (field, _) in enumerate(numeric):
            positions.setdefault(_INTEGER if field.type == data_pb2.InputField.INT64 else _NUMBER, []).append(k)
        order = [k for ks in positions.values() for k in ks]
        matches = tf.concat([tf.strings.regex_full_match(
            tf.stack([columns[numeric[k][1]] for k in ks], axis=1), pattern)
            for pattern, ks in positions.items()], axis=1)
        return tf.logical_not(tf.gather(matches, [order.index(k) for k in range(len(numeric))], axis=1))

    @property
    def _label_names(self):
        return set(self._config.label_fields) | {self._config.sample_weight_field}

    def _drop_bad_rows(self, table, bad, filenames, line_numbers):
        num_bad = tf.reduce_sum(tf.cast(bad, tf.int32))

        def report():
            tf.print("easyrank: skipped", num_bad, "malformed CSV rows:",
                     tf.strings.reduce_join(tf.boolean_mask(
                         filenames + ":" + tf.strings.as_string(line_numbers), bad), separator=", "),
                     output_stream=sys.stderr)
            return num_bad

        reported = tf.cond(num_bad > 0, report, lambda: num_bad)
        with tf.control_dependencies([reported]):
            keep = tf.logical_not(bad)
        return tf.boolean_mask(table, keep)

    def _convert(self, table):
        """(features, targets) of the checked cells; the numbers of each dtype converted in
        one stacked step (empty cells take the field's default)."""
        columns = tf.unstack(table, num=self._num_columns, axis=1)
        values, numbers = {}, collections.defaultdict(list)  # dtype -> [(name, index, default)]
        for field, index in self._fields:
            dtype, default = fields_lib.field_dtype(field), fields_lib.default_value(field)
            if field.name in self._label_names:
                dtype, default = tf.float32, float(default or 0)
            if dtype != tf.string:
                numbers[dtype].append((field.name, index, str(default)))
            else:
                values[field.name] = tf.where(columns[index] == "", default, columns[index]) if default \
                    else columns[index]
        for dtype, items in numbers.items():
            cells = tf.strings.strip(tf.stack([columns[index] for _, index, _ in items], axis=1))
            cells = tf.where(cells == "", tf.constant([default for *_, default in items]), cells)
            converted = tf.strings.to_number(cells, out_type=dtype)
            values.update(zip([name for name, _, _ in items], tf.unstack(converted, num=len(items), axis=1)))
        features, targets = {}, {}
        for field, _ in self._fields:
            (targets if field.name in self._label_names else features)[field.name] = values[field.name]
        return features, targets


def _describe_first(bad, filenames, line_numbers, reasons):
    first = tf.argmax(tf.cast(bad, tf.int32))
    return tf.strings.format(BAD_ROW_MARKER + " in {} at line {}: {}.",
                             (filenames[first], line_numbers[first], reasons[first]))
