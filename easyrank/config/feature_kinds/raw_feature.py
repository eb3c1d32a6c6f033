"""raw_feature: a number -> a normalized value, a linear map, or an embedded bucket
(features/columns.RawColumn)."""

from easyrank.config.feature_kinds import numbers, spec
from easyrank.config.feature_kinds.common import RUN_STATS, input_of, single_input
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    field = single_input(feature, context, path)
    if field.type == data_pb2.InputField.STRING:
        raise ConfigError(f"input field {field.name!r} is STRING; a raw feature needs FLOAT or INT64.",
                          path=path)
    norm = feature.normalizer
    if feature.HasField("boundaries_from_quantiles"):
        if feature.boundaries_from_quantiles < 2:
            raise ConfigError(f"must be >= 2 buckets. Received: {feature.boundaries_from_quantiles}.",
                              path=path + ".boundaries_from_quantiles")
        if feature.embedding_dim <= 0:
            raise ConfigError("bucketized features need embedding_dim > 0.", path=path + ".embedding_dim")
        if not feature.boundaries and not context.allow_unfilled:
            raise ConfigError(f"boundaries_from_quantiles {RUN_STATS}.", path=path + ".boundaries_from_quantiles")
    if norm.compute_from_data:
        if context.allow_unfilled:
            return
        if not (norm.HasField("std") or norm.HasField("min")):
            raise ConfigError(f"normalizer.compute_from_data {RUN_STATS}.",
                              path=path + ".normalizer.compute_from_data")
    numbers.check_normalizer(norm, path)
    bounds = list(feature.boundaries)
    if any(b >= a for b, a in zip(bounds, bounds[1:])):
        raise ConfigError(f"must be strictly increasing. Received: {bounds}.", path=path + ".boundaries")
    if bounds and feature.embedding_dim <= 0:
        raise ConfigError("bucketized features need embedding_dim > 0.", path=path + ".embedding_dim")


def table(feature, path):
    """A bucket table (one row per bucket), the [1, embedding_dim] row of a linear map, or None
    (the value itself)."""
    if feature.boundaries:
        return spec.TableSpec(len(feature.boundaries) + 1, feature.embedding_dim, path + ".boundaries",
                              spec.BUCKETS)
    if feature.embedding_dim:
        return spec.TableSpec(1, feature.embedding_dim, path + ".embedding_dim", spec.LINEAR)
    return None


def statistics_wanted(feature):
    return bool(feature.normalizer.compute_from_data or feature.boundaries_from_quantiles)


SPEC = spec.KindSpec(
    oneof="raw_feature",
    validate=validate,
    table=table,
    inputs=lambda feature: [(input_of(feature), None)],
    statistics=spec.StatisticsSpec(statistics_wanted, spec.NUMBERS),
)
