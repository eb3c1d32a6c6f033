"""overlap_feature: the distinct tokens two text or tag fields share (a count or a ratio), as a
number or a bucket id (features/overlap_column.OverlapColumn)."""

from easyrank.config.feature_kinds import numbers, spec
from easyrank.errors import ConfigError


def validate(feature, context, path):
    numbers.check_input(context, feature.left_input, path + ".left_input", (numbers.STRING,), lists=True)
    numbers.check_input(context, feature.right_input, path + ".right_input", (numbers.STRING,), lists=True)
    numbers.check_nonempty(feature, path, "left_separator", "right_separator")
    if not feature.method:
        raise ConfigError("set COUNT, LEFT_RATIO, RIGHT_RATIO or UNION_RATIO.", path=path + ".method")
    numbers.check_output(feature, path)


SPEC = spec.KindSpec(
    oneof="overlap_feature",
    validate=validate,
    table=numbers.table,
    inputs=lambda f: [(f.left_input, f.left_separator), (f.right_input, f.right_separator)],
)
