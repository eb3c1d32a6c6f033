"""sequence_numeric_feature: numbers per step of a sequence_feature (price, dwell time), joined
to its steps' keys in DIN/BST (features/sequence_numeric.SequenceNumericColumn)."""

from easyrank.config.feature_kinds import numbers, spec
from easyrank.config.feature_kinds.common import input_of
from easyrank.errors import ConfigError


def validate(feature, context, path):
    numbers.check_input(context, input_of(feature), path + (".input_name" if feature.input_name else ".name"),
                        (numbers.STRING,), lists=True)
    numbers.check_nonempty(feature, path, "sequence", "separator")
    numbers.check_output(feature, path, linear=True)


def validate_across(feature, path, across):
    """It names a sequence_feature, and the sequences of each feature group that reads it share
    that sequence's max_len (their steps are aligned)."""
    kind, sequence, _ = across.features.get(feature.sequence, (None, None, None))
    if kind != "sequence_feature":
        raise ConfigError(f"{feature.sequence!r} is not a sequence_feature; side information describes the "
                          "steps of one.", path=path + ".sequence")
    for i, group in enumerate(across.groups):
        if feature.name not in group.feature_names:
            continue
        lengths = {}
        for name in group.feature_names:
            kind, other, _ = across.features.get(name, (None, None, None))
            if kind == "sequence_numeric_feature":
                described = across.features.get(other.sequence, (None,))
                if described[0] == "sequence_feature":  # else its own check reports it
                    lengths[name] = described[1].max_len
            elif kind == "sequence_feature":
                lengths[name] = other.max_len
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"the sequences of group {group.name!r} have different max_len ({lengths}; side "
                              "information has its sequence's); aligned steps need one max_len.",
                              path=f"model_config.feature_groups[{i}]")


SPEC = spec.KindSpec(
    oneof="sequence_numeric_feature",
    validate=validate,
    table=lambda feature, path: numbers.table(feature, path, linear=True),
    inputs=lambda feature: [(input_of(feature), feature.separator)],
    validate_across=validate_across,
)
