"""What a feature kind declares: its checks, its table, its statistics and its inputs.

One module per FeatureConfig oneof field (this package) builds a KindSpec; the package's
KINDS maps the oneof name to it. Config validation, the table-memory estimate, warm
starting, `easyrank.stats` and raw-feature serving loop over KINDS instead of naming kinds;
features/builder.py maps the same names to the kind's column (TensorFlow lives there).
"""

import collections
import dataclasses

# What the rows of a kind's table mean (how warm starting carries them over,
# training/embedding_rows.py): a vocabulary entry each, an integer id each, hash buckets
# (or a dynamic table's rows), buckets of a number, or the rows of a linear map.
VOCAB, IDENTITY, HASH, BUCKETS, LINEAR = "vocabulary", "identity", "hashed", "bucketized", "linear"

# What `easyrank.stats` computes for a kind: NUMBERS, the moments (and quantiles) of a
# number as RawFeature reads it; TOKENS, the counts of its values (a vocabulary).
NUMBERS, TOKENS = "numbers", "tokens"

# fields: {input field name: InputField}; labels: the label and sample weight field names;
# allow_unfilled: statistics left to the data are accepted (as `easyrank.stats` reads them).
Context = collections.namedtuple("Context", ["fields", "labels", "allow_unfilled"])

# rows: the table's rows (0: known only when built, e.g. a vocab_file); dim: its width;
# rows_field: the field path that sets the rows (for messages); meaning: one of VOCAB ...
TableSpec = collections.namedtuple("TableSpec", ["rows", "dim", "rows_field", "meaning"])

# What a check across features sees: features, {feature name: (oneof, feature message, field
# path)} of all features; groups, model_config.feature_groups.
Across = collections.namedtuple("Across", ["features", "groups"])


@dataclasses.dataclass(frozen=True)
class StatisticsSpec:
    """What a kind leaves to the data: `wanted(feature)` says whether this feature leaves
    anything; `values` is NUMBERS or TOKENS; `split`: TOKENS are the values of the input
    split by the feature's separator (else the whole value)."""

    wanted: object
    values: str
    split: bool = False


@dataclasses.dataclass(frozen=True)
class KindSpec:
    """One feature kind.

    oneof: its FeatureConfig oneof field name, e.g. "id_feature".
    validate(feature, context, path): raises ConfigError for the first broken rule of this
      kind (the feature's name and its uniqueness are checked before).
    table(feature, path): the TableSpec of the feature's embedding table or projection, or
      None (no table).
    inputs(feature): [(input field, separator or None)] the feature reads, in order; a
      separator means a list (a Parquet list, a tf.Example bytes_list) may stand for the
      joined string (the raw_features serving signature takes the joined form).
    statistics: a StatisticsSpec, or None when nothing of this kind is left to the data.
    validate_across(feature, path, across): optional; the checks that need the other features
      or the feature groups (an Across), run once every feature and group passed its own.
    """

    oneof: str
    validate: object
    table: object
    inputs: object
    statistics: StatisticsSpec | None = None
    validate_across: object = None
