"""One streaming pass over the training input filling what the config leaves to the data.

What is left to the data (feature.proto):
- raw_feature.normalizer.compute_from_data: Z_SCORE (mean, std) or MIN_MAX
  (min, max) of the values after log1p when the normalizer asks for it;
- raw_feature.boundaries_from_quantiles: N -> the boundaries of N
  equal-frequency buckets of the normalized value;
- id/tag/sequence_feature.vocab_from_data: a vocabulary file of the values
  counted in the data (most frequent first), with min_count and max_size.

The pass reads the input with easyrank.data.build_dataset, so every format and
its defaults, list columns and bad-row handling apply, and the statistics are
those of the values the model will see.
"""

import collections
import hashlib
import os
import re

import numpy as np
import tensorflow as tf

from easyrank.data import build_dataset
from easyrank.errors import DataError
from easyrank.io import files
from easyrank.protos import feature_pb2
from easyrank.statistics.sketches import Moments, QuantileSketch, ValueCounter

_BATCH = 8192

FeatureStats = collections.namedtuple("FeatureStats", ["path", "kind", "feature", "moments", "quantiles",
                                                       "counter"])
Statistics = collections.namedtuple("Statistics", ["rows", "features"])


def wanted(config):
    """[(path, kind, feature)] of the features with something left to the data."""
    found = []
    for i, wrapper in enumerate(config.feature_configs):
        kind = wrapper.WhichOneof("feature")
        feature = getattr(wrapper, kind)
        if kind == "raw_feature":
            if feature.normalizer.compute_from_data or feature.boundaries_from_quantiles:
                found.append((f"feature_configs[{i}]", kind, feature))
        elif "vocab_from_data" in feature.DESCRIPTOR.fields_by_name and feature.HasField("vocab_from_data"):
            found.append((f"feature_configs[{i}]", kind, feature))
    return found


def compute_statistics(config, patterns=None, quantile_k=8192, vocab_capacity=1 << 20):
    """Statistics of the training input (`patterns`, default train_input_path)."""
    stats = []
    for path, kind, feature in wanted(config):
        raw = kind == "raw_feature"
        stats.append(FeatureStats(
            path, kind, feature, Moments() if raw else None,
            QuantileSketch(quantile_k) if raw and feature.boundaries_from_quantiles else None,
            None if raw else ValueCounter(vocab_capacity)))
    rows = 0
    dataset = build_dataset(config.data_config, list(patterns or config.train_input_path), training=False,
                            batch_size=_BATCH)
    summarize = tf.function(lambda features: _summaries(stats, features))
    for features, targets in dataset:
        rows += int(tf.shape(tf.nest.flatten((features, targets))[0])[0])
        for item, summary in zip(stats, summarize(features)):
            if item.counter is not None:
                values, counts = summary
                item.counter.update([v.decode("utf-8", "replace") for v in values.numpy()], counts.numpy())
                continue
            values = summary.numpy()
            item.moments.update(values)
            if item.quantiles is not None:
                item.quantiles.update(values)
    return Statistics(rows, stats)


def _summaries(stats, features):
    """Per feature: the raw values (after log1p if asked) or (distinct values, counts) of the batch."""
    out = []
    for item in stats:
        value = features[item.feature.input_name or item.feature.name]
        if item.kind == "raw_feature":
            value = tf.cast(value, tf.float32)
            if item.feature.normalizer.log1p:
                value = tf.math.log1p(tf.maximum(value, 0.0))
            out.append(value)
            continue
        if value.dtype != tf.string:
            value = tf.strings.as_string(value)
        if item.kind == "id_feature":
            values = tf.reshape(value, [-1])
        else:  # joined strings and/or lists, split by the feature's separator
            values = tf.strings.split(tf.reshape(value, [-1]), item.feature.separator).flat_values
        values = tf.boolean_mask(values, values != "")
        distinct, _, counts = tf.unique_with_counts(values, out_idx=tf.int64)
        out.append((distinct, counts))
    return out


def fill(config, statistics, vocab_dir):
    """Writes the statistics into `config` (in place) and the vocabulary files.

    Returns {feature path: one-line description} for the summary.
    """
    notes = {}
    for item in statistics.features:
        feature = item.feature
        target = _message(config, item.path, item.kind)
        if item.kind == "raw_feature":
            notes[item.path] = _fill_raw(target, item)
            continue
        files.makedirs(vocab_dir)
        options = feature.vocab_from_data
        kept = item.counter.most_common(options.min_count, options.max_size)
        kept = [(v, c) for v, c in kept if "\n" not in v and "\r" not in v]
        if not kept:
            raise DataError(f"feature {feature.name!r} ({item.path}): no value is seen at least "
                            f"vocab_from_data.min_count {options.min_count} times in "
                            f"{statistics.rows:,} rows, so its vocabulary would be empty; lower "
                            "min_count. Nothing was written.")
        vocab_path = os.path.join(vocab_dir, vocab_file_name(feature.name))
        files.write_text(vocab_path, "".join(v + "\n" for v, _ in kept))
        for name in ("hash_bucket_size", "vocab_list", "num_buckets", "vocab_from_data"):
            if name in target.DESCRIPTOR.fields_by_name:
                target.ClearField(name)
        target.vocab_file = vocab_path
        bound = item.counter.error_bound
        notes[item.path] = (f"{feature.name}: {len(kept):,} of {item.counter.distinct:,} distinct values "
                            f"({item.counter.total:,} occurrences) -> {vocab_path}"
                            + (f"; counts approximate, at most {bound:,} low" if bound else ""))
    return notes


def vocab_file_name(feature_name):
    """A file name for a feature's vocabulary that stays inside vocab_dir: characters other than
    letters, digits, "_", "-" and "." become "_", and a leading "." becomes "_" (no "..", no
    hidden file); names that differ only there get distinct files through a short hash."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", feature_name)
    safe = "_" + safe[1:] if safe.startswith(".") else safe
    if safe != feature_name:
        safe += "-" + hashlib.sha1(feature_name.encode("utf-8")).hexdigest()[:8]
    return safe + ".txt"


def check_results(statistics):
    """DataError when the input had no rows, or a feature had no value to compute from."""
    if statistics.rows == 0:
        raise DataError("the input has no rows: there is nothing to compute statistics from; "
                        "nothing was written.")
    for item in statistics.features:
        empty = (item.moments is not None and item.moments.count == 0) or (
            item.counter is not None and item.counter.total == 0)
        if empty:
            raise DataError(f"feature {item.feature.name!r} ({item.path}) has no value in the "
                            f"{statistics.rows:,} rows read: there is nothing to compute its "
                            "statistics from; nothing was written.")


def _message(config, path, kind):
    index = int(path[path.index("[") + 1:path.index("]")])
    return getattr(config.feature_configs[index], kind)


def _fill_raw(target, item):
    moments, norm = item.moments, target.normalizer
    parts = [f"{target.name}: {moments.count:,} values"]
    if norm.compute_from_data == feature_pb2.Normalizer.Z_SCORE:
        norm.mean, norm.std = moments.mean, moments.std if moments.std > 0 else 1.0
        parts.append(f"mean {norm.mean:.6g}, std {norm.std:.6g}")
    elif norm.compute_from_data == feature_pb2.Normalizer.MIN_MAX:
        high = moments.max if moments.max > moments.min else moments.min + 1.0
        norm.min, norm.max = moments.min, high
        parts.append(f"min {norm.min:.6g}, max {norm.max:.6g}")
    norm.ClearField("compute_from_data")
    if item.quantiles is not None:
        buckets = target.boundaries_from_quantiles
        points = item.quantiles.quantiles(np.arange(1, buckets) / buckets)
        boundaries = np.unique(_normalize(points, norm))
        del target.boundaries[:]
        target.boundaries.extend(float(b) for b in boundaries)
        target.ClearField("boundaries_from_quantiles")
        exact = "exact" if item.quantiles.exact else "KLL sketch"
        parts.append(f"{len(boundaries)} boundaries ({len(boundaries) + 1} of {buckets} buckets, {exact})")
    if not target.normalizer.ListFields():
        target.ClearField("normalizer")
    return ", ".join(parts)


def _normalize(values, norm):
    """The normalizer after log1p (z-score or min-max), as features/columns.RawColumn applies it."""
    values = np.asarray(values, np.float32)
    if norm.HasField("std"):
        return (values - np.float32(norm.mean)) / np.float32(norm.std)
    if norm.HasField("min"):
        return np.clip((values - np.float32(norm.min)) / (np.float32(norm.max) - np.float32(norm.min)), 0, 1)
    return values
