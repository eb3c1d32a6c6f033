"""id_feature: one categorical id per row -> an embedding row (features/columns.IdColumn)."""

from easyrank.config.feature_kinds import categorical, spec
from easyrank.config.feature_kinds.common import input_of, single_input
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    field = single_input(feature, context, path)
    categorical.check_index(feature, path, context.allow_unfilled, identity=True)
    if feature.HasField("num_buckets") and field.type != data_pb2.InputField.INT64:
        raise ConfigError("num_buckets (integer identity) needs an INT64 input field.", path=path + ".num_buckets")
    categorical.check_init(feature, path)


SPEC = spec.KindSpec(
    oneof="id_feature",
    validate=validate,
    table=categorical.table,
    inputs=lambda feature: [(input_of(feature), None)],
    statistics=spec.StatisticsSpec(categorical.vocabulary_wanted, spec.TOKENS, split=False),
)
