"""tag_feature: separator-joined values (or a list), optionally weighted -> a pooled embedding
(features/columns.TagColumn)."""

from easyrank.config.feature_kinds import categorical, spec
from easyrank.config.feature_kinds.common import input_of, single_input
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    field = single_input(feature, context, path)
    categorical.check_index(feature, path, context.allow_unfilled)
    if field.type != data_pb2.InputField.STRING:
        raise ConfigError("a tag feature needs a STRING input field.", path=path)
    if feature.kv_separator and feature.weight_input:
        raise ConfigError("set kv_separator (weights inside the values) or weight_input (a parallel "
                          "field), not both.", path=path + ".weight_input")
    if feature.kv_separator == feature.separator:
        raise ConfigError(f"kv_separator equals separator {feature.separator!r}.", path=path + ".kv_separator")
    categorical.check_init(feature, path)
    weights = feature.weight_input
    if weights and (weights not in context.fields or weights in context.labels
                    or context.fields[weights].type != data_pb2.InputField.STRING):
        raise ConfigError(f"weight_input {weights!r} is not a STRING input field.", path=path + ".weight_input")


def inputs(feature):
    read = [(input_of(feature), feature.separator)]
    if feature.weight_input:
        read.append((feature.weight_input, feature.separator))
    return read


SPEC = spec.KindSpec(
    oneof="tag_feature",
    validate=validate,
    table=categorical.table,
    inputs=inputs,
    statistics=spec.StatisticsSpec(categorical.vocabulary_wanted, spec.TOKENS, split=True),
)
