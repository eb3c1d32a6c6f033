"""What the kinds whose value is a number (match, overlap, expression and sequence side
information) share: typed inputs, the normalizer/boundaries/embedding checks and the table
of their buckets or linear map (features/scalar_output.py builds it)."""

from easyrank.config.feature_kinds import spec
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2

STRING, INT64, FLOAT = data_pb2.InputField.STRING, data_pb2.InputField.INT64, data_pb2.InputField.FLOAT


def check_input(context, name, path, types, lists=False):
    """The InputField `name` (path: the config field naming it), of one of `types`, one value
    per row unless `lists`."""
    field = context.fields.get(name)
    if not name or field is None or name in context.labels:
        raise ConfigError(f"input field {name!r} is not a non-label field of data_config.input_fields.",
                          path=path)
    if field.type not in types or (field.is_list and not lists) or field.length:
        kinds = " or ".join(data_pb2.InputField.Type.Name(t) for t in types)
        raise ConfigError(f"input field {name!r} must be {kinds}" + ("" if lists else ", one value per row")
                          + ".", path=path)
    return field


def check_nonempty(feature, path, *names):
    for name in names:
        if not getattr(feature, name):
            raise ConfigError("must not be empty.", path=f"{path}.{name}")


def check_normalizer(norm, path):
    """A z-score (mean and std > 0) or a min-max scaling (max > min), not both."""
    if norm.HasField("mean") != norm.HasField("std"):
        raise ConfigError("z-score needs both mean and std.", path=path + ".normalizer")
    if norm.HasField("std") and norm.std <= 0:
        raise ConfigError(f"must be positive. Received: {norm.std}.", path=path + ".normalizer.std")
    if norm.HasField("min") != norm.HasField("max"):
        raise ConfigError("min-max scaling needs both min and max.", path=path + ".normalizer")
    if norm.HasField("min") and norm.max <= norm.min:
        raise ConfigError(f"max must be greater than min. Received: min={norm.min}, max={norm.max}.",
                          path=path + ".normalizer")
    if norm.HasField("std") and norm.HasField("min"):
        raise ConfigError("use either z-score (mean, std) or min-max (min, max), not both.",
                          path=path + ".normalizer")


def check_output(feature, path, linear=False):
    """The number's normalizer, boundaries and embedding; `linear`: embedding_dim without
    boundaries is a linear map (side information), else it needs boundaries."""
    norm = feature.normalizer
    if norm.compute_from_data:
        raise ConfigError("statistics from data are for raw features; set mean and std, or min and max.",
                          path=path + ".normalizer.compute_from_data")
    check_normalizer(norm, path)
    bounds = list(feature.boundaries)
    if any(b >= a for b, a in zip(bounds, bounds[1:])):
        raise ConfigError(f"must be strictly increasing. Received: {bounds}.", path=path + ".boundaries")
    if bounds and feature.embedding_dim <= 0:
        raise ConfigError("bucketized values need embedding_dim > 0.", path=path + ".embedding_dim")
    if feature.embedding_dim < 0:
        raise ConfigError(f"must be >= 0. Received: {feature.embedding_dim}.", path=path + ".embedding_dim")
    if not bounds and feature.embedding_dim and not linear:
        raise ConfigError("embedding_dim embeds the buckets of boundaries; set boundaries or leave "
                          "embedding_dim out (the number itself, width 1).", path=path + ".embedding_dim")


def table(feature, path, linear=False):
    """The buckets' table (boundaries set), the [1, embedding_dim] linear map (`linear`: side
    information with embedding_dim), or None (the number itself)."""
    if feature.boundaries:
        return spec.TableSpec(len(feature.boundaries) + 1, feature.embedding_dim, path + ".boundaries",
                              spec.BUCKETS)
    if linear and feature.embedding_dim:
        return spec.TableSpec(1, feature.embedding_dim, path + ".embedding_dim", spec.LINEAR)
    return None
