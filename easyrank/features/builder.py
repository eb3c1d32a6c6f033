"""Feature columns built from the config's feature_configs, one per feature."""

from easyrank.errors import ConfigError
from easyrank.features.columns import IdColumn, RawColumn, StringIndex, TagColumn
from easyrank.features.sequence import SequenceColumn


def build_columns(feature_configs):
    """Returns {feature name: Column} for the FeatureConfig messages."""
    columns = {}
    for i, wrapper in enumerate(feature_configs):
        kind = wrapper.WhichOneof("feature")
        feature = getattr(wrapper, kind)
        path = f"feature_configs[{i}].{kind}"
        input_name = feature.input_name or feature.name
        embedding_name = getattr(feature, "embedding_name", "") or feature.name
        if kind == "id_feature":
            column = IdColumn(feature.name, input_name, StringIndex(feature, path),
                              embedding_name, feature.embedding_dim)
        elif kind == "tag_feature":
            column = TagColumn(feature.name, input_name, StringIndex(feature, path), embedding_name,
                               feature.embedding_dim, feature.separator,
                               mean=feature.combiner != feature.SUM)
        elif kind == "raw_feature":
            column = RawColumn(feature.name, input_name, feature.normalizer, feature.boundaries,
                               embedding_name, feature.embedding_dim)
        elif kind == "sequence_feature":
            column = SequenceColumn(feature.name, input_name, StringIndex(feature, path),
                                    embedding_name, feature.embedding_dim, feature.separator,
                                    feature.max_len)
        else:
            raise ConfigError(f"no column builder for {kind!r}.", path=path)
        column.path = path
        columns[feature.name] = column
    _check_shared_tables(columns.values())
    return columns


def _check_shared_tables(columns):
    """Columns naming the same embedding table agree on its rows and width."""
    known = {}
    for column in columns:
        spec = column.table_spec()
        if spec is None:
            continue
        name, rows, dim = spec
        first = known.setdefault(name, (rows, dim, column))
        if first[:2] != (rows, dim):
            raise ConfigError(
                f"embedding {name!r} is shared with feature {first[2].name!r} but has {rows} rows "
                f"x {dim} instead of {first[0]} x {first[1]}; shared tables need the same "
                "vocabulary size and embedding_dim.", path=column.path)
