"""match_feature: the weight (or presence) of a row's key in a key-value map of another field,
as a number or a bucket id (features/match_column.MatchColumn)."""

from easyrank.config.feature_kinds import numbers, spec
from easyrank.errors import ConfigError


def validate(feature, context, path):
    numbers.check_input(context, feature.map_input, path + ".map_input", (numbers.STRING,), lists=True)
    numbers.check_input(context, feature.key_input, path + ".key_input", (numbers.STRING, numbers.INT64))
    if feature.secondary_key_input:
        numbers.check_input(context, feature.secondary_key_input, path + ".secondary_key_input",
                            (numbers.STRING, numbers.INT64))
    numbers.check_nonempty(feature, path, "separator", "kv_separator", "key_joiner")
    if feature.separator == feature.kv_separator:
        raise ConfigError(f"separator and kv_separator are both {feature.separator!r}.",
                          path=path + ".kv_separator")
    if not feature.mode:
        raise ConfigError("set WEIGHT or HIT.", path=path + ".mode")
    numbers.check_output(feature, path)


def inputs(feature):
    read = [(feature.map_input, feature.separator), (feature.key_input, None)]
    if feature.secondary_key_input:
        read.append((feature.secondary_key_input, None))
    return read


SPEC = spec.KindSpec(oneof="match_feature", validate=validate, table=numbers.table, inputs=inputs)
