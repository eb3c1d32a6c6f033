"""cross_feature: the hashed cross of two or more categorical fields -> an embedding row
(features/columns.CrossColumn)."""

from easyrank.config.feature_kinds import spec
from easyrank.config.feature_kinds.common import check_positive
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    if len(feature.input_names) < 2:
        raise ConfigError(f"a cross needs at least two input_names. Received: {list(feature.input_names)}.",
                          path=path + ".input_names")
    for j, name in enumerate(feature.input_names):
        field = context.fields.get(name)
        if field is None or name in context.labels:
            raise ConfigError(f"input field {name!r} is not a non-label field of data_config.input_fields.",
                              path=f"{path}.input_names[{j}]")
        if field.type == data_pb2.InputField.FLOAT:
            raise ConfigError(f"input field {name!r} is FLOAT; cross STRING or INT64 fields (bucketize a "
                              "number into an INT64 field first).", path=f"{path}.input_names[{j}]")
        if field.is_list:
            raise ConfigError(f"input field {name!r} is a list; a cross takes one value per row.",
                              path=f"{path}.input_names[{j}]")
    check_positive(feature.hash_bucket_size, path + ".hash_bucket_size")
    check_positive(feature.embedding_dim, path + ".embedding_dim")


def table(feature, path):
    """A table of hash buckets (also the table of a lookup feature read as an id)."""
    if not feature.HasField("hash_bucket_size"):
        return None
    return spec.TableSpec(feature.hash_bucket_size, feature.embedding_dim, path + ".hash_bucket_size",
                          spec.HASH)


SPEC = spec.KindSpec(
    oneof="cross_feature",
    validate=validate,
    table=table,
    inputs=lambda feature: [(name, None) for name in feature.input_names],
)
