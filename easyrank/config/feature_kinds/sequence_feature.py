"""sequence_feature: a behaviour sequence -> padded embeddings [B, max_len, D] and lengths
(features/sequence.SequenceColumn); read by sequence feature groups."""

from easyrank.config.feature_kinds import categorical, spec
from easyrank.config.feature_kinds.common import check_positive, input_of, single_input
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2


def validate(feature, context, path):
    field = single_input(feature, context, path)
    categorical.check_index(feature, path, context.allow_unfilled)
    categorical.check_init(feature, path)
    if field.type != data_pb2.InputField.STRING:
        raise ConfigError(f"a sequence feature needs a STRING input field (values joined by "
                          f"{feature.separator!r}, or a tf.Example bytes_list with is_list).", path=path)
    check_positive(feature.max_len, path + ".max_len")
    if not feature.separator:
        raise ConfigError("must not be empty.", path=path + ".separator")


SPEC = spec.KindSpec(
    oneof="sequence_feature",
    validate=validate,
    table=categorical.table,
    inputs=lambda feature: [(input_of(feature), feature.separator)],
    statistics=spec.StatisticsSpec(categorical.vocabulary_wanted, spec.TOKENS, split=True),
)
