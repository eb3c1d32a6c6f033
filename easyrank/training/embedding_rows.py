"""What the rows of an embedding table mean, and how they carry over when its size changes.

Used by warm starting (training/warm_start.py): a vocabulary table keeps
each key's trained row (matched by key), an identity (num_buckets) table the
rows of the ids both sizes hold, and a hashed or bucketized table is
re-initialised because its values now land in other rows.
"""

import collections
import os

import numpy as np

from easyrank.errors import ConfigError
from easyrank.io import files

VOCAB, IDENTITY, HASH, BUCKETS, LINEAR = "vocabulary", "identity", "hashed", "bucketized", "linear"
VOCAB_DIR = "vocabularies"  # <model_dir>/vocabularies/<feature name>.txt: the vocabulary trained on

# kind: one of the constants above; feature: the feature message; path: its
# config field path; name: the feature name.
TableMeaning = collections.namedtuple("TableMeaning", ["kind", "feature", "path", "name"])


def table_meanings(config):
    """{embedding name: TableMeaning} of a config's embedding tables (first feature wins)."""
    meanings = {}
    for i, wrapper in enumerate(config.feature_configs):
        kind = wrapper.WhichOneof("feature")
        feature = getattr(wrapper, kind)
        path = f"feature_configs[{i}].{kind}"
        if kind == "raw_feature":
            if not feature.boundaries and not feature.embedding_dim:
                continue
            meaning = BUCKETS if feature.boundaries else LINEAR
        elif kind == "vector_feature":  # a projection matrix, [dimension, embedding_dim]
            if not feature.embedding_dim:
                continue
            meaning = LINEAR
        elif kind in ("match_feature", "overlap_feature", "expr_feature", "sequence_numeric_feature"):
            # issue 28's numbers: buckets, a linear map (side information) or no table
            if not feature.boundaries and not (kind == "sequence_numeric_feature" and feature.embedding_dim):
                continue
            meaning = BUCKETS if feature.boundaries else LINEAR
        elif _has(feature, "hash_bucket_size") or _has(feature, "dynamic"):
            # id, tag, sequence, cross, lookup features; a dynamic table's rows mean nothing
            # without its id mapping: warm_start_dynamic carries them together.
            meaning = HASH
        elif kind == "lookup_feature" or kind == "cross_feature":
            continue  # a dense lookup value: no table
        elif getattr(feature, "num_buckets", 0):
            meaning = IDENTITY
        else:
            meaning = VOCAB
        name = feature.embedding_name or feature.name
        meanings.setdefault(name, TableMeaning(meaning, feature, path, feature.name))
    return meanings


def _has(feature, field):
    return field in feature.DESCRIPTOR.fields_by_name and feature.HasField(field)


def vocabulary(meaning, model_dir=None):
    """The keys of a vocabulary feature, in row order, or None if they cannot be read.

    A copy saved in model_dir (save_vocabularies) wins over vocab_file, which
    may have been rewritten since that model was trained.
    """
    feature = meaning.feature
    if feature.vocab_list:
        return list(feature.vocab_list)
    candidates = [os.path.join(model_dir, VOCAB_DIR, _file_name(meaning.name))] if model_dir else []
    candidates.append(feature.vocab_file)
    for path in candidates:
        if path and files.isfile(path):
            return files.read_text(path).splitlines()
    return None


def save_vocabularies(config, model_dir):
    """Copies every vocab_file into <model_dir>/vocabularies/ (what this model was trained on)."""
    for meaning in table_meanings(config).values():
        feature = meaning.feature
        if meaning.kind != VOCAB or feature.vocab_list or not feature.vocab_file:
            continue
        keys = vocabulary(meaning)
        if keys is None:
            continue
        files.makedirs(os.path.join(model_dir, VOCAB_DIR))
        target = os.path.join(model_dir, VOCAB_DIR, _file_name(meaning.name))
        files.write_text(target, "".join(k + "\n" for k in keys))


def _file_name(feature_name):
    return feature_name.replace("/", "_").replace(os.sep, "_") + ".txt"


def carry_rows(new_meaning, old_meaning, old_value, fresh, old_model_dir, describe):
    """The new table's value: old rows where their meaning carries over, `fresh` rows elsewhere.

    Args:
      new_meaning, old_meaning: TableMeaning of the table now and in the
        checkpoint (old_meaning None when the old config is unknown).
      old_value, fresh: the checkpoint's table and the freshly initialised one.
      old_model_dir: where the old vocabulary may be saved.
      describe: text naming both variables and shapes, for errors.
    Returns:
      (value, note): value None means "keep fresh"; note says what happened.
    """
    if old_value.shape[1:] != fresh.shape[1:]:
        raise ConfigError(f"cannot warm start {describe}: the embedding width changed; rename "
                          "the embedding or exclude it with fine_tune_exclude.",
                          path="train_config.fine_tune_checkpoint")
    kind = new_meaning.kind
    if old_meaning is not None and old_meaning.kind != kind:
        return None, (f"re-initialised: was a {old_meaning.kind} feature, now {kind}, so its "
                      "rows mean other values")
    if kind == VOCAB:
        return _by_key(new_meaning, old_meaning, old_value, fresh, old_model_dir, describe)
    if kind == IDENTITY and old_value.shape != fresh.shape:
        value = fresh.copy()
        shared = min(old_value.shape[0], fresh.shape[0]) - 1  # the last row is the out-of-range id
        value[:shared] = old_value[:shared]
        value[-1] = old_value[-1]
        return value, f"resized: kept the rows of ids 0..{shared - 1} and the out-of-range row"
    if old_value.shape == fresh.shape:
        return old_value, None
    return None, (f"re-initialised: its {kind} row count changed from {old_value.shape[0]} to "
                  f"{fresh.shape[0]}, so its values now land in other rows")


def _by_key(new_meaning, old_meaning, old_value, fresh, old_model_dir, describe):
    new_keys = vocabulary(new_meaning)
    old_keys = vocabulary(old_meaning, old_model_dir) if old_meaning is not None else None
    if old_keys is None:
        if old_value.shape == fresh.shape:
            return old_value, None
        raise ConfigError(f"cannot warm start {describe} by vocabulary key: the checkpoint's "
                          f"vocabulary is unknown (no pipeline.config or vocabulary file of feature "
                          f"{new_meaning.name!r} beside the checkpoint); exclude the table with "
                          "fine_tune_exclude to re-initialise it.",
                          path="train_config.fine_tune_checkpoint")
    if len(old_keys) >= old_value.shape[0] or new_keys is None:
        raise ConfigError(f"cannot warm start {describe}: the checkpoint's vocabulary of feature "
                          f"{old_meaning.name!r} has {len(old_keys)} keys for "
                          f"{old_value.shape[0]} rows.", path="train_config.fine_tune_checkpoint")
    value = fresh.copy()
    old_rows = {key: row for row, key in enumerate(old_keys)}
    new_rows, old_rows_taken = [], []
    for row, key in enumerate(new_keys):
        if key in old_rows:
            new_rows.append(row)
            old_rows_taken.append(old_rows[key])
    value[new_rows] = old_value[old_rows_taken]
    old_oov, new_oov = old_value.shape[0] - len(old_keys), fresh.shape[0] - len(new_keys)
    if old_oov == new_oov:
        value[len(new_keys):] = old_value[len(old_keys):]
    note = (f"matched by key: {len(new_rows)} of {len(new_keys)} keys kept their rows, "
            f"{len(new_keys) - len(new_rows)} new")
    if old_oov != new_oov:
        note += ", out-of-vocabulary rows re-initialised"
    if np.array_equal(old_value, value):
        return old_value, None
    return value, note


def check_vocabularies(config, old, model_dir):
    """ConfigError when a vocabulary changed since `old` (the config model_dir was trained with).

    Same-size vocabularies with other keys restore without a shape error but give
    keys other keys' rows; a changed vocabulary needs a warm start, which matches
    rows by key.
    """
    old_meanings = table_meanings(old) if old is not None else {}
    for name, meaning in table_meanings(config).items():
        before = old_meanings.get(name)
        if meaning.kind != VOCAB or before is None or before.kind != VOCAB:
            continue
        old_keys, keys = vocabulary(before, model_dir), vocabulary(meaning)
        if old_keys is None or keys is None or old_keys == keys:
            continue
        field = "vocab_list" if meaning.feature.vocab_list else "vocab_file"
        raise ConfigError(
            f"the vocabulary of feature {meaning.name!r} changed since the checkpoint in "
            f"{model_dir} was trained ({len(old_keys)} keys then, {len(keys)} now, "
            f"{sum(a != b for a, b in zip(old_keys, keys))} rows moved): continuing would give "
            "keys the rows of other keys. Train into a new model_dir with "
            "train_config.fine_tune_checkpoint pointing at this one; it matches rows by key.",
            path=f"{meaning.path}.{field}")
