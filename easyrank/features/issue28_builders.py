"""Columns of the feature kinds added by issue 28 (match, overlap, expression, text, sequence
side information): one builder per FeatureConfig oneof member, ready to move into the
feature-kind registry, and `link`, the pass after all columns are built."""

from easyrank.errors import ConfigError
from easyrank.features.columns import StringIndex
from easyrank.features.expression_column import ExpressionColumn
from easyrank.features.match_column import MatchColumn
from easyrank.features.overlap_column import OverlapColumn
from easyrank.features.sequence_numeric import SequenceNumericColumn
from easyrank.features.text_column import TextColumn
from easyrank.protos import feature_pb2


def _match(feature, path, embedding_name):
    return MatchColumn(feature.name, feature.map_input, feature.key_input, feature.secondary_key_input,
                       feature.separator, feature.kv_separator, feature.key_joiner,
                       feature.mode == feature_pb2.MatchFeature.HIT, feature.normalizer, feature.boundaries,
                       embedding_name, feature.embedding_dim)


def _overlap(feature, path, embedding_name):
    method = feature_pb2.OverlapFeature.Method.Name(feature.method).lower()
    return OverlapColumn(feature.name, feature.left_input, feature.right_input, feature.left_separator,
                         feature.right_separator, method, feature.lowercase, feature.normalizer,
                         feature.boundaries, embedding_name, feature.embedding_dim)


def _expression(feature, path, embedding_name):
    return ExpressionColumn(feature.name, feature.expression, feature.normalizer, feature.boundaries,
                            embedding_name, feature.embedding_dim)


def _text(feature, path, embedding_name):
    return TextColumn(feature.name, feature.input_name or feature.name, StringIndex(feature, path),
                      embedding_name, feature.embedding_dim, feature.split_pattern, feature.lowercase,
                      feature.max_tokens, mean=feature.combiner != feature_pb2.TagFeature.SUM)


def _sequence_numeric(feature, path, embedding_name):
    return SequenceNumericColumn(feature.name, feature.input_name or feature.name, feature.sequence,
                                 feature.separator, feature.normalizer, feature.boundaries, embedding_name,
                                 feature.embedding_dim)


BUILDERS = {"match_feature": _match, "overlap_feature": _overlap, "expr_feature": _expression,
            "text_feature": _text, "sequence_numeric_feature": _sequence_numeric}


def link(columns):
    """Gives each side-information column the id sequence it describes ({name: Column})."""
    for column in columns.values():
        if isinstance(column, SequenceNumericColumn):
            sequence = columns.get(column.sequence)
            if sequence is None or not hasattr(sequence, "max_len") or isinstance(sequence, SequenceNumericColumn):
                raise ConfigError(f"{column.sequence!r} is not a sequence_feature.", path=column.path + ".sequence")
            column.link(sequence)
