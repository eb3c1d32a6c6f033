"""Feature columns built from the config's feature_configs, one per feature."""

import numpy as np
import tensorflow as tf

from easyrank.embeddings.initializers import TableOptions
from easyrank.errors import ConfigError
from easyrank.features import dynamic_table
from easyrank.features.columns import (
    CrossColumn,
    IdColumn,
    LookupColumn,
    RawColumn,
    StringIndex,
    TagColumn,
    VectorColumn,
)
from easyrank.features.expression_column import ExpressionColumn
from easyrank.features.match_column import MatchColumn
from easyrank.features.overlap_column import OverlapColumn
from easyrank.features.sequence import SequenceColumn
from easyrank.features.sequence_numeric import SequenceNumericColumn
from easyrank.features.text_column import TextColumn
from easyrank.io import files, schemes
from easyrank.protos import feature_pb2


def build_columns(feature_configs):
    """Returns {feature name: Column} for the FeatureConfig messages."""
    columns = {}
    dynamic = {}  # embedding name -> (DynamicIndex, its DynamicEmbedding message, path)
    for i, wrapper in enumerate(feature_configs):
        kind = wrapper.WhichOneof("feature")
        feature = getattr(wrapper, kind)
        path = f"feature_configs[{i}].{kind}"
        if kind not in COLUMNS:
            raise ConfigError(f"no column builder for {kind!r}.", path=path)
        column = COLUMNS[kind](feature, _Context(feature, path, dynamic))
        if "embedding" in feature.DESCRIPTOR.fields_by_name and feature.HasField("embedding"):
            column.table_options = _table_options(feature.embedding, column, path + ".embedding")
        column.path = path
        columns[feature.name] = column
    for column in columns.values():
        column.link(columns)  # settings taken from another column (side information: its sequence)
    _check_shared_tables(columns.values())
    return columns


class _Context:
    """What a column builder needs besides the feature: its input and table names, its field
    path, and its row index (`index()`, shared with the features of its dynamic table)."""

    def __init__(self, feature, path, dynamic):
        self.input = getattr(feature, "input_name", "") or feature.name
        self.embedding = getattr(feature, "embedding_name", "") or feature.name
        self.path = path
        self._feature, self._dynamic = feature, dynamic

    def index(self):
        return index(self._feature, self.path, self.embedding, self._dynamic)


# The column of each feature kind: FeatureConfig oneof name -> (feature, context) -> Column. The
# kind's checks, table and statistics live in easyrank/config/feature_kinds/<oneof>.py.
COLUMNS = {
    "id_feature": lambda f, c: IdColumn(f.name, c.input, c.index(), c.embedding, f.embedding_dim),
    "tag_feature": lambda f, c: TagColumn(
        f.name, c.input, c.index(), c.embedding, f.embedding_dim, f.separator, mean=f.combiner != f.SUM,
        kv_separator=f.kv_separator, weight_input=f.weight_input),
    "raw_feature": lambda f, c: RawColumn(f.name, c.input, f.normalizer, f.boundaries, c.embedding,
                                          f.embedding_dim),
    "cross_feature": lambda f, c: CrossColumn(f.name, list(f.input_names), f.hash_bucket_size, c.embedding,
                                              f.embedding_dim),
    "lookup_feature": lambda f, c: LookupColumn(
        f.name, f.map_input, f.key_input, f.separator, f.kv_separator, f.default_value, f.normalizer,
        f.hash_bucket_size, c.embedding, f.embedding_dim),
    "vector_feature": lambda f, c: VectorColumn(f.name, c.input, f.dimension, f.separator, c.embedding,
                                                f.embedding_dim),
    "sequence_feature": lambda f, c: SequenceColumn(f.name, c.input, c.index(), c.embedding, f.embedding_dim,
                                                    f.separator, f.max_len),
    "match_feature": lambda f, c: MatchColumn(
        f.name, f.map_input, f.key_input, f.secondary_key_input, f.separator, f.kv_separator, f.key_joiner,
        f.mode == feature_pb2.MatchFeature.HIT, f.normalizer, f.boundaries, c.embedding, f.embedding_dim),
    "overlap_feature": lambda f, c: OverlapColumn(
        f.name, f.left_input, f.right_input, f.left_separator, f.right_separator,
        feature_pb2.OverlapFeature.Method.Name(f.method).lower(), f.lowercase, f.normalizer, f.boundaries,
        c.embedding, f.embedding_dim),
    "expr_feature": lambda f, c: ExpressionColumn(f.name, f.expression, f.normalizer, f.boundaries, c.embedding,
                                                  f.embedding_dim),
    "text_feature": lambda f, c: TextColumn(
        f.name, c.input, StringIndex(f, c.path), c.embedding, f.embedding_dim, f.split_pattern, f.lowercase,
        f.max_tokens, mean=f.combiner != feature_pb2.TagFeature.SUM),
    "sequence_numeric_feature": lambda f, c: SequenceNumericColumn(
        f.name, c.input, f.sequence, f.separator, f.normalizer, f.boundaries, c.embedding, f.embedding_dim),
}


def _table_options(options, column, path):
    """TableOptions of an EmbeddingOptions message; reads and checks a pretrained file."""
    pretrained = None
    if options.pretrained_file:
        if getattr(getattr(column, "index", None), "hashed", True):
            raise ConfigError("a pretrained table needs ids with a fixed meaning: vocab_list, vocab_file or "
                              "num_buckets, not hashing.", path=path + ".pretrained_file")
        _, rows, dim = column.table_spec()
        try:
            with files.open(options.pretrained_file) as f:
                lines = [line.replace(",", " ").split() for line in f if line.strip()]
            pretrained = np.array(lines, dtype=np.float32) if lines else np.zeros([0, dim], np.float32)
        except (OSError, tf.errors.OpError) as e:
            raise ConfigError(f"cannot read {options.pretrained_file!r}: {schemes.first_line(e)}.",
                              path=path + ".pretrained_file") from None
        except ValueError:
            raise ConfigError(f"{options.pretrained_file!r} must hold one row of {dim} numbers per line.",
                              path=path + ".pretrained_file") from None
        if pretrained.ndim != 2 or pretrained.shape[1] != dim or len(pretrained) > rows:
            raise ConfigError(f"{options.pretrained_file!r} holds a {' x '.join(map(str, pretrained.shape))} "
                              f"table; the feature's table has {rows} rows x {dim} (at most {rows} rows of "
                              f"embedding_dim {dim} numbers).", path=path + ".pretrained_file")
        if not np.all(np.isfinite(pretrained)):
            raise ConfigError(f"{options.pretrained_file!r} holds a value that is not finite.",
                              path=path + ".pretrained_file")
    stddev = options.init_stddev if options.HasField("init_stddev") else None
    return TableOptions(stddev, options.trainable, pretrained, options.pretrained_file)


def _check_shared_tables(columns):
    """Columns naming the same embedding table agree on its rows and width."""
    known = {}
    for column in columns:
        spec = column.table_spec()
        if spec is None:
            continue
        name, rows, dim = spec
        first = known.setdefault(name, (rows, dim, column))
        if first[2].table_options != column.table_options and column.table_options != TableOptions():
            raise ConfigError(f"embedding {name!r} is shared with feature {first[2].name!r}, which sets other "
                              "embedding options; set them on one of the features.", path=column.path)
        if first[:2] != (rows, dim):
            raise ConfigError(
                f"embedding {name!r} is shared with feature {first[2].name!r} but has {rows} rows "
                f"x {dim} instead of {first[0]} x {first[1]}; shared tables need the same "
                "vocabulary size and embedding_dim.", path=column.path)


def index(feature, path, embedding_name, dynamic):
    """The StringIndex of a feature, or the DynamicIndex its embedding name shares."""
    if not feature.HasField("dynamic"):
        if embedding_name in dynamic:
            raise ConfigError(f"shares embedding {embedding_name!r} with the dynamic table of "
                              f"{dynamic[embedding_name][2]} but is not dynamic; give it the same "
                              "dynamic settings.", path=path)
        return StringIndex(feature, path)
    known = dynamic.get(embedding_name)
    if known is None:
        rows = dynamic_table.from_config(feature.dynamic, f"dynamic_{embedding_name}")
        known = dynamic[embedding_name] = (dynamic_table.DynamicIndex(rows), feature.dynamic, path)
    elif known[1] != feature.dynamic:
        raise ConfigError(f"shares embedding {embedding_name!r} with {known[2]}, whose dynamic "
                          "settings differ; shared dynamic tables need the same settings.",
                          path=path + ".dynamic")
    return known[0]
