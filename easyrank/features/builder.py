"""Feature columns built from the config's feature_configs, one per feature."""

import numpy as np
import tensorflow as tf

from easyrank.errors import ConfigError
from easyrank.features import dynamic_table, issue28_builders
from easyrank.features.columns import (
    CrossColumn,
    IdColumn,
    LookupColumn,
    RawColumn,
    StringIndex,
    TableOptions,
    TagColumn,
    VectorColumn,
)
from easyrank.features.sequence import SequenceColumn
from easyrank.io import files, schemes


def build_columns(feature_configs):
    """Returns {feature name: Column} for the FeatureConfig messages."""
    columns = {}
    dynamic = {}  # embedding name -> (DynamicIndex, its DynamicEmbedding message, path)
    for i, wrapper in enumerate(feature_configs):
        kind = wrapper.WhichOneof("feature")
        feature = getattr(wrapper, kind)
        path = f"feature_configs[{i}].{kind}"
        input_name = getattr(feature, "input_name", "") or feature.name
        embedding_name = getattr(feature, "embedding_name", "") or feature.name
        if kind == "id_feature":
            column = IdColumn(feature.name, input_name, index(feature, path, embedding_name, dynamic),
                              embedding_name, feature.embedding_dim)
        elif kind == "tag_feature":
            column = TagColumn(feature.name, input_name, index(feature, path, embedding_name, dynamic), embedding_name,
                               feature.embedding_dim, feature.separator,
                               mean=feature.combiner != feature.SUM, kv_separator=feature.kv_separator,
                               weight_input=feature.weight_input)
        elif kind == "raw_feature":
            column = RawColumn(feature.name, input_name, feature.normalizer, feature.boundaries,
                               embedding_name, feature.embedding_dim)
        elif kind == "cross_feature":
            column = CrossColumn(feature.name, list(feature.input_names), feature.hash_bucket_size,
                                 embedding_name, feature.embedding_dim)
        elif kind == "lookup_feature":
            column = LookupColumn(feature.name, feature.map_input, feature.key_input, feature.separator,
                                  feature.kv_separator, feature.default_value, feature.normalizer,
                                  feature.hash_bucket_size, embedding_name, feature.embedding_dim)
        elif kind == "vector_feature":
            column = VectorColumn(feature.name, input_name, feature.dimension, feature.separator,
                                  embedding_name, feature.embedding_dim)
        elif kind in issue28_builders.BUILDERS:  # issue 28's kinds (match, overlap, expr, text, side info)
            column = issue28_builders.BUILDERS[kind](feature, path, embedding_name)
        elif kind == "sequence_feature":
            column = SequenceColumn(feature.name, input_name, index(feature, path, embedding_name, dynamic),
                                    embedding_name, feature.embedding_dim, feature.separator,
                                    feature.max_len)
        else:
            raise ConfigError(f"no column builder for {kind!r}.", path=path)
        if "embedding" in feature.DESCRIPTOR.fields_by_name and feature.HasField("embedding"):
            column.table_options = _table_options(feature.embedding, column, path + ".embedding")
        column.path = path
        columns[feature.name] = column
    issue28_builders.link(columns)  # issue 28: side information takes its sequence's input and max_len
    _check_shared_tables(columns.values())
    return columns


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
