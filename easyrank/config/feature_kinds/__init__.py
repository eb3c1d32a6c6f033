"""Feature kinds: one module per FeatureConfig oneof field, and their registry (issue 28).

    KINDS["id_feature"].validate(feature, context, path)

Each module (id_feature.py, raw_feature.py, ...) builds the KindSpec (spec.py) of its kind:
its checks, the table it needs (rows, width, what the rows mean), what it leaves to
`easyrank.stats`, and the input fields it reads. Config validation, the table-memory
estimate (easyrank/embeddings/memory.py), warm starting (training/embedding_rows.py), the
statistics (statistics/compute.py), the checks across features (validate_across) and the
raw_features serving input loop over KINDS; features/builder.py maps the same names to the
kind's column (and runs Column.link once all are built). tests/config_kinds_test.py
checks that every oneof field has an entry. A new kind: docs/features.md.
"""

from easyrank.config.feature_kinds import (
    cross_feature,
    expr_feature,
    id_feature,
    lookup_feature,
    match_feature,
    overlap_feature,
    raw_feature,
    sequence_feature,
    sequence_numeric_feature,
    tag_feature,
    text_feature,
    vector_feature,
)
from easyrank.config.feature_kinds.spec import Across, Context, KindSpec, StatisticsSpec, TableSpec

KINDS = {spec.oneof: spec for spec in (
    id_feature.SPEC, raw_feature.SPEC, tag_feature.SPEC, sequence_feature.SPEC, cross_feature.SPEC,
    lookup_feature.SPEC, vector_feature.SPEC, match_feature.SPEC, overlap_feature.SPEC, expr_feature.SPEC,
    text_feature.SPEC, sequence_numeric_feature.SPEC)}

__all__ = ["KINDS", "Across", "Context", "KindSpec", "StatisticsSpec", "TableSpec", "features",
           "validate_across", "table_specs", "embedding_tables"]


def features(feature_configs):
    """[(field path, kind, feature message, KindSpec)] of the FeatureConfig messages that
    set a kind, in order."""
    found = []
    for i, wrapper in enumerate(feature_configs):
        kind = wrapper.WhichOneof("feature")
        if kind is not None:
            found.append((f"feature_configs[{i}].{kind}", kind, getattr(wrapper, kind), KINDS[kind]))
    return found


def validate_across(config):
    """Runs the checks across features of the kinds that declare one (KindSpec.validate_across),
    after every feature and feature group passed its own checks."""
    found = features(config.feature_configs)
    across = Across({feature.name: (kind, feature, path) for path, kind, feature, _ in found},
                    config.model_config.feature_groups)
    for path, _, feature, kind in found:
        if kind.validate_across is not None:
            kind.validate_across(feature, path, across)


def table_specs(feature_configs):
    """[(embedding name, TableSpec, feature message, field path)] of the features with a table."""
    found = []
    for path, _, feature, kind in features(feature_configs):
        table = kind.table(feature, path)
        if table is not None:
            found.append((feature.embedding_name or feature.name, table, feature, path))
    return found


def embedding_tables(feature_configs):
    """{embedding name: (rows, embedding_dim, field path of the row count)} of the tables whose
    size is known from the config (first feature wins), for the memory estimate."""
    tables = {}
    for name, table, _, _ in table_specs(feature_configs):
        if table.rows and table.dim > 0:
            tables.setdefault(name, (table.rows, table.dim, table.rows_field))
    return tables
