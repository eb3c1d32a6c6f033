"""Columns of the feature kinds added by issue 28 (match, overlap, expression, text): one
builder per FeatureConfig oneof member, ready to move into the feature-kind registry."""

from easyrank.features.expression_column import ExpressionColumn


def _expression(feature, path, embedding_name):
    return ExpressionColumn(feature.name, feature.expression, feature.normalizer, feature.boundaries,
                            embedding_name, feature.embedding_dim)


BUILDERS = {"expr_feature": _expression}
