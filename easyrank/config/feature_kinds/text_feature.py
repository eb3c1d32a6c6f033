"""text_feature: free text split into tokens by an RE2 pattern in the graph, embedded and pooled
like tags (features/text_column.TextColumn)."""

import re

from easyrank.config.feature_kinds import categorical, numbers, spec
from easyrank.config.feature_kinds.common import check_positive, input_of
from easyrank.errors import ConfigError


def validate(feature, context, path):
    numbers.check_input(context, input_of(feature), path + (".input_name" if feature.input_name else ".name"),
                        (numbers.STRING,))
    chosen = [c for c in ("hash_bucket_size", "vocab_list", "vocab_file")
              if (feature.vocab_list if c == "vocab_list" else feature.HasField(c))]
    if len(chosen) != 1:
        raise ConfigError(f"set exactly one of hash_bucket_size, vocab_list, vocab_file. Received: "
                          f"{chosen or 'none'}.", path=path)
    if feature.HasField("hash_bucket_size"):
        check_positive(feature.hash_bucket_size, path + ".hash_bucket_size")
    check_positive(feature.embedding_dim, path + ".embedding_dim")
    if feature.num_oov_buckets < 1:
        raise ConfigError(f"must be at least 1. Received: {feature.num_oov_buckets}.", path=path + ".num_oov_buckets")
    if feature.max_tokens < 0:
        raise ConfigError(f"must be >= 0. Received: {feature.max_tokens}.", path=path + ".max_tokens")
    if len(set(feature.vocab_list)) != len(feature.vocab_list):
        raise ConfigError("duplicate vocabulary entry; each value needs one row.", path=path + ".vocab_list")
    categorical.check_init(feature, path)
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


SPEC = spec.KindSpec(
    oneof="text_feature",
    validate=validate,
    table=categorical.table,  # hashed tokens or a vocabulary plus its OOV rows
    inputs=lambda feature: [(input_of(feature), None)],  # one string per row, split in the graph
)
