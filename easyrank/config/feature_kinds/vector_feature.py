"""vector_feature: a fixed-length vector (joined numbers, or a float_list) used as is or
projected to embedding_dim (features/columns.VectorColumn)."""

from easyrank.config.feature_kinds import spec
from easyrank.config.feature_kinds.common import check_positive, input_of, single_input
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    field = single_input(feature, context, path, vector=True)
    if (field.type != data_pb2.InputField.STRING or field.is_list) and not field.length:
        raise ConfigError(f"a vector feature needs a STRING input field holding {feature.separator!r}-joined "
                          "numbers, or a FLOAT field with length (a tf.Example float_list).", path=path)
    check_positive(feature.dimension, path + ".dimension")
    if field.length and field.length != feature.dimension:
        raise ConfigError(f"dimension {feature.dimension} differs from the length {field.length} of input "
                          f"field {field.name!r}.", path=path + ".dimension")
    if feature.embedding_dim < 0:
        raise ConfigError(f"must be >= 0. Received: {feature.embedding_dim}.", path=path + ".embedding_dim")
    if not feature.separator:
        raise ConfigError("must not be empty.", path=path + ".separator")


def table(feature, path):
    """The projection matrix [dimension, embedding_dim], when the vector is projected."""
    if not feature.embedding_dim:
        return None
    return spec.TableSpec(feature.dimension, feature.embedding_dim, path + ".dimension", spec.LINEAR)


SPEC = spec.KindSpec(
    oneof="vector_feature",
    validate=validate,
    table=table,
    inputs=lambda feature: [(input_of(feature), feature.separator)],
)
