"""Checks of the feature kinds added by issue 28 (match, overlap, expression, text, sequence
side information), one function per FeatureConfig oneof member, ready to move into the
feature-kind registry, and `validate_across`, the checks that need the other features.

Each raises ConfigError with the field path (load_config adds the file and line).
"""

import re

from easyrank.errors import ConfigError
from easyrank.protos import data_pb2, expression_grammar

_STRING, _INT64, _FLOAT = data_pb2.InputField.STRING, data_pb2.InputField.INT64, data_pb2.InputField.FLOAT
# Kinds whose output is one number per row (a value, or its bucket embedding).
SCALAR_KINDS = ("match_feature", "overlap_feature", "expr_feature")
# Kinds whose table `table_rows` counts.
TABLE_KINDS = SCALAR_KINDS + ("sequence_numeric_feature",)


def _input(fields, labels, name, path, types, lists=False):
    """The InputField `name` (path: the config field naming it), of one of `types`."""
    field = fields.get(name)
    if not name or field is None or name in labels:
        raise ConfigError(f"input field {name!r} is not a non-label field of data_config.input_fields.",
                          path=path)
    if field.type not in types or (field.is_list and not lists) or field.length:
        kinds = " or ".join(data_pb2.InputField.Type.Name(t) for t in types)
        raise ConfigError(f"input field {name!r} must be {kinds}" + ("" if lists else ", one value per row")
                          + ".", path=path)
    return field


def _check_output(feature, path, linear=False):
    """The number's normalizer, boundaries and embedding; `linear`: embedding_dim without
    boundaries is a linear map (side information), else it needs boundaries."""
    norm = feature.normalizer
    if norm.compute_from_data:
        raise ConfigError("statistics from data are for raw features; set mean and std, or min and max.",
                          path=path + ".normalizer.compute_from_data")
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


def _nonempty(feature, path, *names):
    for name in names:
        if not getattr(feature, name):
            raise ConfigError("must not be empty.", path=f"{path}.{name}")


def validate_match(feature, fields, labels, path):
    _input(fields, labels, feature.map_input, path + ".map_input", (_STRING,), lists=True)
    _input(fields, labels, feature.key_input, path + ".key_input", (_STRING, _INT64))
    if feature.secondary_key_input:
        _input(fields, labels, feature.secondary_key_input, path + ".secondary_key_input", (_STRING, _INT64))
    _nonempty(feature, path, "separator", "kv_separator", "key_joiner")
    if feature.separator == feature.kv_separator:
        raise ConfigError(f"separator and kv_separator are both {feature.separator!r}.",
                          path=path + ".kv_separator")
    if not feature.mode:
        raise ConfigError("set WEIGHT or HIT.", path=path + ".mode")
    _check_output(feature, path)


def validate_overlap(feature, fields, labels, path):
    _input(fields, labels, feature.left_input, path + ".left_input", (_STRING,), lists=True)
    _input(fields, labels, feature.right_input, path + ".right_input", (_STRING,), lists=True)
    _nonempty(feature, path, "left_separator", "right_separator")
    if not feature.method:
        raise ConfigError("set COUNT, LEFT_RATIO, RIGHT_RATIO or UNION_RATIO.", path=path + ".method")
    _check_output(feature, path)


def validate_expression(feature, fields, labels, path):
    _nonempty(feature, path, "expression")
    try:
        tree = expression_grammar.parse(feature.expression)
    except expression_grammar.ExpressionError as e:
        raise ConfigError(f"the expression does not parse: {e}.", path=path + ".expression") from None
    names = expression_grammar.fields(tree)
    if not names:
        raise ConfigError("the expression reads no input field; a constant is not a feature.",
                          path=path + ".expression")
    for name, column in names:
        field = fields.get(name)
        if field is None or name in labels or field.type not in (_FLOAT, _INT64) or field.length:
            what = ("is not among data_config.input_fields" if field is None else "is a label or sample weight"
                    if name in labels else "is not a FLOAT or INT64 field of one value per row")
            raise ConfigError(f"column {column}: {name!r} {what}: "
                              f"{expression_grammar.mark(feature.expression, column)}.", path=path + ".expression")
    _check_output(feature, path)


def validate_text(feature, fields, labels, path):
    name = feature.input_name or feature.name
    _input(fields, labels, name, path + (".input_name" if feature.input_name else ".name"), (_STRING,))
    chosen = [c for c in ("hash_bucket_size", "vocab_list", "vocab_file")
              if (feature.vocab_list if c == "vocab_list" else feature.HasField(c))]
    if len(chosen) != 1:
        raise ConfigError(f"set exactly one of hash_bucket_size, vocab_list, vocab_file. Received: "
                          f"{chosen or 'none'}.", path=path)
    if feature.HasField("hash_bucket_size") and feature.hash_bucket_size <= 0:
        raise ConfigError(f"must be positive. Received: {feature.hash_bucket_size}.", path=path + ".hash_bucket_size")
    if feature.embedding_dim <= 0:
        raise ConfigError(f"must be positive. Received: {feature.embedding_dim}.", path=path + ".embedding_dim")
    if feature.num_oov_buckets < 1:
        raise ConfigError(f"must be at least 1. Received: {feature.num_oov_buckets}.", path=path + ".num_oov_buckets")
    if feature.max_tokens < 0:
        raise ConfigError(f"must be >= 0. Received: {feature.max_tokens}.", path=path + ".max_tokens")
    if len(set(feature.vocab_list)) != len(feature.vocab_list):
        raise ConfigError("duplicate vocabulary entry; each value needs one row.", path=path + ".vocab_list")
    if feature.embedding.HasField("init_stddev") and not feature.embedding.init_stddev > 0:
        raise ConfigError(f"must be positive. Received: {feature.embedding.init_stddev}.",
                          path=path + ".embedding.init_stddev")
    _check_pattern(feature.split_pattern, path + ".split_pattern")


def _check_pattern(pattern, path):
    """split_pattern must be a valid RE2 expression that matches no empty text."""
    if not pattern:
        raise ConfigError("must not be empty.", path=path)
    import tensorflow as tf  # RE2, the engine the graph uses (Python's re differs)
    try:
        empty = bool(tf.strings.regex_full_match("", pattern).numpy())
    except (tf.errors.InvalidArgumentError, ValueError) as e:
        text = re.sub(r"\s+", " ", getattr(e, "message", str(e)))
        raise ConfigError(f"{pattern!r} is not a valid RE2 regular expression ({text[:200]}).", path=path) from None
    if empty:
        raise ConfigError(f"{pattern!r} matches the empty text, so it would split between every "
                          "character; use a pattern that needs at least one character (e.g. \"\\\\s+\").",
                          path=path)


def validate_sequence_numeric(feature, fields, labels, path):
    name = feature.input_name or feature.name
    _input(fields, labels, name, path + (".input_name" if feature.input_name else ".name"), (_STRING,), lists=True)
    _nonempty(feature, path, "sequence", "separator")
    _check_output(feature, path, linear=True)


def validate_across(config):
    """Side information names a sequence_feature, and a feature group's sequences (side
    information included) share one max_len."""
    kinds = {}
    for i, wrapper in enumerate(config.feature_configs):
        kind = wrapper.WhichOneof("feature")
        kinds[getattr(wrapper, kind).name] = (kind, getattr(wrapper, kind), f"feature_configs[{i}].{kind}")
    for kind, feature, path in kinds.values():
        if kind == "sequence_numeric_feature" and kinds.get(feature.sequence, ("",))[0] != "sequence_feature":
            raise ConfigError(f"{feature.sequence!r} is not a sequence_feature; side information describes the "
                              "steps of one.", path=path + ".sequence")
    for i, group in enumerate(config.model_config.feature_groups):
        lengths = {}
        for name in group.feature_names:
            kind, feature, _ = kinds.get(name, ("", None, ""))
            if kind == "sequence_numeric_feature":
                lengths[name] = kinds[feature.sequence][1].max_len
            elif kind == "sequence_feature":
                lengths[name] = feature.max_len
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"the sequences of group {group.name!r} have different max_len ({lengths}; side "
                              "information has its sequence's); aligned steps need one max_len.",
                              path=f"model_config.feature_groups[{i}]")


VALIDATORS = {"match_feature": validate_match, "overlap_feature": validate_overlap,
              "expr_feature": validate_expression, "text_feature": validate_text,
              "sequence_numeric_feature": validate_sequence_numeric}


def table_rows(feature, path):
    """(rows, field path) of the table of a TABLE_KINDS feature: its buckets, the [1, D] linear
    map of side information, or none (0)."""
    if feature.boundaries:
        return len(feature.boundaries) + 1, path + ".boundaries"
    if "sequence" in feature.DESCRIPTOR.fields_by_name and feature.embedding_dim:
        return 1, path + ".embedding_dim"
    return 0, None


def extra_inputs(feature):
    """Input fields an issue 28 feature reads that `input_name`, `map_input` and `key_input` do
    not name (for the retrieval towers' leak check); empty for other kinds."""
    fields = feature.DESCRIPTOR.fields_by_name
    names = {getattr(feature, f) for f in ("secondary_key_input", "left_input", "right_input")
             if f in fields and getattr(feature, f)}
    if "expression" in fields:
        try:
            names |= {name for name, _ in expression_grammar.fields(expression_grammar.parse(feature.expression))}
        except expression_grammar.ExpressionError:
            pass  # validate_expression reports it
    return names
