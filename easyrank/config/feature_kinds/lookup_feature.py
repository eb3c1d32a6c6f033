"""lookup_feature: the value of a map field at the key of another field, as a number or an
embedded id (features/columns.LookupColumn)."""

import re

from easyrank.config.feature_kinds import cross_feature, spec
from easyrank.config.feature_kinds.common import check_positive
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    for name, allowed in (("map_input", (data_pb2.InputField.STRING,)),
                          ("key_input", (data_pb2.InputField.STRING, data_pb2.InputField.INT64))):
        value = getattr(feature, name)
        field = context.fields.get(value)
        if field is None or value in context.labels:
            raise ConfigError(f"input field {value!r} is not a non-label field of data_config.input_fields.",
                              path=f"{path}.{name}")
        if field.type not in allowed or field.is_list:
            kinds = " or ".join(data_pb2.InputField.Type.Name(t) for t in allowed)
            raise ConfigError(f"input field {value!r} must be a single {kinds} value.", path=f"{path}.{name}")
    for name in ("separator", "kv_separator"):
        if not getattr(feature, name):
            raise ConfigError("must not be empty.", path=f"{path}.{name}")
    if feature.separator == feature.kv_separator:
        raise ConfigError(f"separator and kv_separator are both {feature.separator!r}.", path=path + ".kv_separator")
    if feature.HasField("hash_bucket_size"):
        check_positive(feature.hash_bucket_size, path + ".hash_bucket_size")
        check_positive(feature.embedding_dim, path + ".embedding_dim")
    else:
        if not re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", feature.default_value):
            raise ConfigError(f"a numeric lookup needs a number as default_value. Received: "
                              f"{feature.default_value!r}.", path=path + ".default_value")
        norm = feature.normalizer
        if norm.HasField("std") and norm.std <= 0:
            raise ConfigError(f"must be positive. Received: {norm.std}.", path=path + ".normalizer.std")
        if norm.HasField("mean") != norm.HasField("std"):
            raise ConfigError("z-score needs both mean and std.", path=path + ".normalizer")


SPEC = spec.KindSpec(
    oneof="lookup_feature",
    validate=validate,
    table=cross_feature.table,  # as an id: hash buckets; as a number: none
    inputs=lambda feature: [(feature.map_input, feature.separator), (feature.key_input, None)],
)
