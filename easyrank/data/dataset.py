"""Builds the tf.data pipeline for a DataConfig: list, shard, shuffle, batch, parse.

Rows are batched first and each batch is parsed by one vectorised function
(csv_reader.parse_csv_batch or tfrecord_reader.parse_example_batch), so the
per-row work is only reading lines or records. Parquet input is read and
shuffled by row groups and whole columns in parquet_reader.ParquetReader.
"""

import os

import tensorflow as tf

from easyrank.data import csv_reader, tfrecord_reader
from easyrank.data.compression import gzip_lines, is_gzip, verify_gzip
from easyrank.data.values import ClassRange, VectorSpec
from easyrank.errors import DataError
from easyrank.io import files as file_layer
from easyrank.io import schemes
from easyrank.protos import data_pb2, model_pb2

_ALL_ROWS = 1 << 40  # a batch size that takes every row (data_config.cache)
def list_files(patterns):
    """Expands globs in order; raises DataError naming a pattern that matches nothing."""
    files = []
    for pattern in patterns:
        try:
            matched = file_layer.expand(pattern)
        except (OSError, tf.errors.OpError) as e:
            raise DataError(f"Cannot list the input {pattern!r}: {schemes.first_line(e)}. Check the "
                            "path, that its bucket exists and that this process's credentials may "
                            "read it.") from None
        if not matched:
            raise DataError(f"Input file not found: {pattern!r} matches no file" + (
                "." if schemes.scheme(pattern) else f" (working directory {os.getcwd()})."))
        files.extend(matched)
    return files


def binary_labels(model_config):
    """{label field: its allowed values} of binary tasks (cross-entropy, focal): 0, 1 and the
    task's ignore_label_value; the ClassRange of a SOFTMAX_CROSS_ENTROPY task's label (read by
    that task only). A label that a task binarizes (label_threshold) or reads otherwise
    (regression, ranking) is not checked."""
    Task = model_pb2.TaskConfig
    allowed, other, classes = {}, set(), {}
    for task in model_config.tasks:
        if task.loss == Task.SOFTMAX_CROSS_ENTROPY and task.num_classes >= 2:
            ignored = (task.ignore_label_value,) if task.HasField("ignore_label_value") else ()
            classes.setdefault(task.label, ClassRange(task.num_classes, ignored))
        elif task.loss in (Task.BINARY_CROSS_ENTROPY, Task.FOCAL) and not task.HasField("label_threshold"):
            values = allowed.setdefault(task.label, {0.0, 1.0})
            if task.HasField("ignore_label_value"):
                values.add(task.ignore_label_value)
        else:
            other.add(task.label)
    result = {label: tuple(sorted(v)) for label, v in allowed.items() if label not in other}
    result.update({label: c for label, c in classes.items()
                   if label not in allowed and label not in other})
    return result


def row_checks(config):
    """binary_labels(config.model_config) and, for each STRING input field that a
    vector_feature reads, its VectorSpec (a row of another length, or with a value that is
    not a finite number, is malformed: named with its file and row)."""
    checks = binary_labels(config.model_config)
    kinds = {f.name: f.type for f in config.data_config.input_fields}
    for wrapper in config.feature_configs:
        if wrapper.WhichOneof("feature") == "vector_feature":
            vector = wrapper.vector_feature
            field = vector.input_name or vector.name
            if kinds.get(field) == data_pb2.InputField.STRING and field not in checks:
                checks[field] = VectorSpec(vector.name, vector.dimension, vector.separator)
    return checks


def build_dataset(data_config, patterns, *, training, num_epochs=1, batch_size=None,
                  seed=None, input_context=None, skip_batches=0, binary_labels=None):
    """Returns a tf.data.Dataset of (features, targets) dicts.

    Args:
      data_config: a DataConfig message.
      patterns: file names or globs.
      training: shuffle (when configured) and repeat for num_epochs.
      num_epochs: passes over the data when training.
      batch_size: global batch size; defaults to data_config.batch_size.
      seed: shuffle seed; the same seed gives the same order (used to resume).
      input_context: a tf.distribute.InputContext; shards the input and
        turns the global batch size into the per-replica one.
      skip_batches: batches to skip before parsing, to resume mid-epoch.
      binary_labels: {label field: allowed values} of binary tasks (see
        binary_labels()), and VectorSpecs of vector inputs (row_checks()); other
        values make the row malformed.
    """
    files = list_files(patterns)
    batch_size = batch_size or data_config.batch_size
    num_shards, shard = 1, 0
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        num_shards, shard = input_context.num_input_pipelines, input_context.input_pipeline_id
    shard_files = num_shards > 1 and len(files) >= num_shards
    if shard_files:
        files = files[shard::num_shards]
    for path in files:
        if is_gzip(path):
            verify_gzip(path)
    shuffle = training and data_config.shuffle
    if data_config.format == data_pb2.DataConfig.PARQUET:
        from easyrank.data import parquet_reader  # pyarrow loads only for Parquet input (issue 23)
        reader = parquet_reader.ParquetReader(data_config, files, *((1, 0) if shard_files else (num_shards, shard)),
                                              binary_labels=binary_labels)
        if training and data_config.cache:
            batches = reader.dataset(_ALL_ROWS).flat_map(lambda features, targets: _epochs_in_memory(
                features, targets, batch_size, num_epochs, shuffle, seed or 0)).skip(skip_batches)
        else:
            batches = reader.dataset(batch_size, num_epochs=num_epochs if training else 1, shuffle=shuffle,
                                     seed=seed, skip_batches=skip_batches)
        return _finish(batches, data_config, input_context)
    if data_config.format == data_pb2.DataConfig.TFRECORD:
        reader = tfrecord_reader.TFRecordReader(data_config, files, binary_labels)
    else:
        reader = csv_reader.CsvReader(data_config, files, binary_labels)
    names = tf.data.Dataset.from_tensor_slices(files)
    if shuffle and len(files) > 1:
        names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if len(files) > 1:
        rows = names.interleave(reader.read_file, cycle_length=min(len(files), 4), block_length=64,
                                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        rows = reader.read_file(files[0])
    if num_shards > 1 and not shard_files:
        rows = rows.shard(num_shards, shard)
    if training and data_config.cache:
        # Parse every row once, in one batch, then serve each epoch from memory.
        table = rows.batch(_ALL_ROWS).map(_plain_graph(reader.parse_batch))
        batches = table.flat_map(lambda features, targets: _epochs_in_memory(
            features, targets, batch_size, num_epochs, shuffle, seed or 0)).skip(skip_batches)
    else:
        if shuffle:
            rows = rows.shuffle(data_config.shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
        if training:
            rows = rows.repeat(num_epochs)
        batches = rows.batch(batch_size).skip(skip_batches)
        batches = batches.map(_plain_graph(reader.parse_batch), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _finish(batches, data_config, input_context)


def _plain_graph(function):
    """`function` traced as written, without AutoGraph's rewrite.

    The parse functions use tf.cond and Python loops over the configured
    fields only, which AutoGraph would leave as they are; rewriting their
    source cost most of the pipeline's start-up (about 1 CPU-second of the
    1.1 to build census' CSV input: docs/benchmarks.md, issue 15).
    """
    return tf.autograph.experimental.do_not_convert(function)


def _finish(batches, data_config, input_context):
    """Drops batches emptied by skip_bad_rows; sets the options; prefetches."""
    batches = batches.filter(lambda features, targets: tf.size(next(iter(targets.values()))) > 0) \
        if data_config.skip_bad_rows and data_config.label_fields else batches
    options = tf.data.Options()
    options.experimental_deterministic = True
    if input_context is not None:
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _epochs_in_memory(features, targets, batch_size, num_epochs, shuffle, seed):
    """Batches of `num_epochs` passes (-1: endless) over in-memory rows.

    Each epoch is a permutation of the rows drawn from (seed, epoch), so the same
    seed gives the same batches (resuming with skip_batches relies on it). As in
    the streaming input, batches run across epoch boundaries.
    """
    rows = tf.shape(tf.nest.flatten((features, targets))[0], out_type=tf.int64)[0]

    def order(epoch):
        if not shuffle:
            return tf.range(rows)
        return tf.random.experimental.stateless_shuffle(
            tf.range(rows), seed=tf.stack([tf.cast(seed, tf.int64), epoch]))

    epochs = tf.data.Dataset.counter() if num_epochs < 0 else tf.data.Dataset.range(num_epochs)
    take = lambda index: tf.nest.map_structure(lambda t: tf.gather(t, index), (features, targets))  # noqa: E731
    return epochs.map(order).rebatch(batch_size).map(take)


def count_rows(data_config, patterns):
    """Number of data rows (CSV lines without headers, TFRecord records, Parquet rows) in the files.

    CSV lines are counted as bytes, not through tf.data (which cost about 2 s for census'
    80k rows, issue 23): a .gz file's in the integrity check's decompression pass.
    """
    files = list_files(patterns)
    for path in files:
        if is_gzip(path):
            verify_gzip(path)
    if data_config.format == data_pb2.DataConfig.PARQUET:
        from easyrank.data import parquet_reader
        return parquet_reader.count_rows(files)
    if data_config.format == data_pb2.DataConfig.TFRECORD:
        compression = "GZIP" if any(f.endswith(".gz") for f in files) else ""
        records = tf.data.TFRecordDataset(files, compression_type=compression)
        return int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    header = 1 if data_config.csv_header else 0
    return sum(max((gzip_lines(f) if is_gzip(f) else _text_lines(f)) - header, 0) for f in files)


def _text_lines(path):
    """Lines of a plain text file, counted as TextLineDataset reads them."""
    lines, last = 0, b"\n"
    with tf.io.gfile.GFile(path, "rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
