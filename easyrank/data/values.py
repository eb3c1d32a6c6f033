"""Value checks of parsed rows: non-finite floats, labels outside {0, 1} or outside the classes,
vectors of another length or with a value that is not a finite number.

Run by every reader on each parsed batch, after the format checks: a FLOAT
feature, label or sample weight that is nan, inf or beyond float32 (1e39
reads as inf), or a binary cross-entropy label other than 0 and 1, makes the
row malformed. The run stops with the file and row of the first one, or with
data_config.skip_bad_rows the rows are dropped and reported on stderr. With
data_config.non_finite_to_default, non-finite values become the field's
default_value instead. A STRING field read by a vector_feature (numbers joined by its
separator) must hold `dimension` finite numbers or be empty (the zero vector); any other
is a malformed row too (non_finite_to_default does not apply: a vector has no default
per value). A clean batch costs one is_finite reduction per
float column; messages are built only for a batch with a bad row.
"""

import collections
import sys

import tensorflow as tf

from easyrank.protos import data_pb2

# The allowed labels of a SOFTMAX_CROSS_ENTROPY task: the integers 0..num_classes-1 and the
# task's ignore_label_value (`ignored`, a tuple), as a value of the binary_labels dict.
ClassRange = collections.namedtuple("ClassRange", ["num_classes", "ignored"])
# A STRING input field read by vector_feature `feature`: `dimension` numbers joined by
# `separator`, as a value of the binary_labels dict keyed by the input field.
VectorSpec = collections.namedtuple("VectorSpec", ["feature", "dimension", "separator"])
# A finite number as tf.strings.to_number reads it (nan and inf excluded; 1e39 is caught as inf).
FINITE_NUMBER = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"


def class_reason(name, classes):
    return (f"label {name} is not a class 0..{classes.num_classes - 1} "
            f"(softmax cross-entropy, num_classes {classes.num_classes})")


class ValueChecker:
    """Checks the float columns and binary labels of parsed batches of one input."""

    def __init__(self, data_config, binary_labels=None, marker="Malformed row"):
        targets = set(data_config.label_fields) | {data_config.sample_weight_field}
        self._floats = {f.name: float(f.default_value or 0) if f.type != data_pb2.InputField.STRING
                        else 0.0
                        for f in data_config.input_fields
                        if f.name in targets or f.type == data_pb2.InputField.FLOAT}
        self._binary = {name: values for name, values in (binary_labels or {}).items()
                        if name in self._floats}
        self._vectors = {name: spec for name, spec in (binary_labels or {}).items()
                         if isinstance(spec, VectorSpec)}
        self._to_default = data_config.non_finite_to_default
        self._skip = data_config.skip_bad_rows
        self._marker = marker

    def __call__(self, features, targets, locate):
        """(features, targets) with bad rows raised or dropped.

        Args:
          features, targets: dicts of [B] (or [B, N]) tensors of one parsed batch.
          locate: a function of row indices [K] -> [K] strings naming the rows
            (e.g. "file.csv at line 7"), called only for a batch with bad rows.
        """
        columns = {**features, **targets}
        names = [n for n in self._floats if n in columns and columns[n].dtype.is_floating]
        vectors = [n for n in self._vectors if n in columns and columns[n].dtype == tf.string]
        if not names and not vectors:
            return features, targets
        if self._to_default:
            for name in names:
                values = columns[name]
                columns[name] = tf.where(tf.math.is_finite(values), values,
                                         tf.cast(self._floats[name], values.dtype))
            features = {k: columns[k] for k in features}
            targets = {k: columns[k] for k in targets}
        problems = []  # (column name, [B] bool, reason text) in column order
        for name in names:
            values = columns[name]
            finite = tf.math.is_finite(values)
            if values.shape.rank == 2:  # a vector field (length): bad if any value is
                finite = tf.reduce_all(finite, axis=1)
            problems.append((name, tf.logical_not(finite), f"column {name} is not a finite 32-bit float: "))
            if isinstance(self._binary.get(name), ClassRange):
                classes = self._binary[name]
                inside = (values >= 0) & (values < classes.num_classes) & (values == tf.floor(values))
                for value in classes.ignored:
                    inside = inside | (values == value)
                problems.append((name, tf.math.is_finite(values) & ~inside,
                                 class_reason(name, classes) + ": "))
            elif name in self._binary:
                allowed = self._binary[name]
                outside = tf.math.is_finite(values)
                for value in allowed:
                    outside = tf.logical_and(outside, values != value)
                extra = [f"{v:g}" for v in allowed if v not in (0.0, 1.0)]
                problems.append((name, outside, f"label {name} is not 0 or 1"
                                 + (f" (or the ignored {', '.join(extra)})" if extra else "")
                                 + " (binary cross-entropy): "))
        for name in vectors:
            problems.extend(_vector_problems(name, self._vectors[name], columns[name]))
        bad = problems[0][1]
        for _, problem, _ in problems[1:]:
            bad = tf.logical_or(bad, problem)
        if self._skip:
            return self._drop(features, targets, bad, locate)
        return self._stop_at_first(features, targets, bad, columns, problems, locate)

    def _stop_at_first(self, features, targets, bad, columns, problems, locate):
        @tf.autograph.experimental.do_not_convert  # plain Python loop over the columns
        def fail():  # builds the message of the first bad row only
            first = tf.argmax(tf.cast(bad, tf.int32))
            # The first problem of that row, in column order, names the reason; a few ops for
            # all columns together, not a few per column (this branch is traced in every
            # input pipeline: issue 23).
            flags = tf.gather(tf.stack([problem for _, problem, _ in problems], axis=1), first)
            which = tf.argmax(tf.cast(flags, tf.int32))
            names = list(dict.fromkeys(name for name, _, _ in problems))
            shown = tf.gather(_shown_values(columns, names, first),
                              [names.index(name) for name, _, _ in problems])
            reason = tf.gather([text for _, _, text in problems], which) + tf.gather(shown, which)
            message = self._marker + " " + locate(first[None])[0] + ": " + reason + "."
            check = tf.debugging.Assert(False, [message], summarize=1)
            with tf.control_dependencies([check]):
                return tf.identity(bad)

        checked = tf.cond(tf.reduce_any(bad), fail, lambda: bad)
        with tf.control_dependencies([checked]):
            return tf.nest.map_structure(tf.identity, (features, targets))

    def _drop(self, features, targets, bad, locate):
        num_bad = tf.reduce_sum(tf.cast(bad, tf.int32))

        def report():
            tf.print("easyrank: skipped", num_bad, "rows with non-finite or invalid values:",
                     tf.strings.reduce_join(locate(tf.where(bad)[:, 0]), separator=", "),
                     output_stream=sys.stderr)
            return num_bad

        reported = tf.cond(num_bad > 0, report, lambda: num_bad)
        with tf.control_dependencies([reported]):
            keep = tf.logical_not(bad)
        return tf.nest.map_structure(lambda t: tf.boolean_mask(t, keep), (features, targets))


def _shown_values(columns, names, row):
    """[len(names)] strings: each column's value in `row` as the message shows it (a string's
    first 80 characters; numbers in shortest form, a vector's joined by commas)."""
    shown = {}
    by_dtype = collections.defaultdict(list)  # the plain numeric columns, stacked by dtype
    for name in names:
        values = columns[name]
        if values.dtype == tf.string:
            shown[name] = tf.strings.substr(tf.gather(values, row), 0, 80)
        elif values.shape.rank == 1:
            by_dtype[values.dtype].append(name)
        else:
            shown[name] = tf.strings.reduce_join(tf.strings.as_string(
                tf.reshape(tf.gather(values, row), [-1]), shortest=True), separator=",")
    for group in by_dtype.values():
        strings = tf.strings.as_string(tf.gather(tf.stack([columns[n] for n in group], axis=1), row),
                                       shortest=True)
        shown.update(zip(group, tf.unstack(strings, num=len(group))))
    return tf.stack([shown[name] for name in names])


def _vector_problems(name, spec, values):
    """[(name, [B] bool, reason text)] of a STRING vector column: rows with another number
    of values than spec.dimension (an empty string is the zero vector), and rows with a value
    that is not a finite 32-bit float."""
    parts = tf.strings.split(values, spec.separator)
    parts = tf.ragged.boolean_mask(parts, tf.strings.strip(parts) != "")
    wrong_length = (parts.row_lengths() != spec.dimension) & (values != "")
    flat = parts.flat_values
    number = tf.strings.regex_full_match(flat, FINITE_NUMBER)
    finite = number & tf.math.is_finite(tf.strings.to_number(tf.where(number, flat, "0")))
    not_finite = tf.reduce_any(parts.with_flat_values(~finite), axis=1)
    length_reason, value_reason = vector_reasons(name, spec)
    return [(name, wrong_length, length_reason + ": "), (name, not_finite & ~wrong_length, value_reason + ": ")]


def vector_reasons(name, spec):
    """(wrong length, bad value) texts of a malformed row of the vector field `name`."""
    feature = f"vector feature {spec.feature}" + (f" (field {name})" if name != spec.feature else "")
    return (f"{feature} has another number of values than dimension {spec.dimension}",
            f"{feature} has a value that is not a finite 32-bit float")
