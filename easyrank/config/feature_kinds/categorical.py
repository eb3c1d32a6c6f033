"""What the categorical kinds (id, tag, sequence and text features) share: how a value becomes a
row (hashing, a vocabulary, identity or a dynamic table), the checks of that choice, the
table it needs and the vocabulary `easyrank.stats` can count for it."""

from easyrank.config.feature_kinds import spec
from easyrank.config.feature_kinds.common import RUN_STATS, check_positive
from easyrank.errors import ConfigError


def check_index(feature, path, allow_unfilled, identity=False):
    """Exactly one way to map values to rows, and its settings; `identity`: num_buckets is
    one of the ways (id features)."""
    choices = ["hash_bucket_size", "vocab_list", "vocab_file"] + (
        ["num_buckets"] if identity else []) + ["dynamic"]
    chosen = [c for c in choices if (len(getattr(feature, c)) if c == "vocab_list" else feature.HasField(c))]
    if feature.HasField("vocab_from_data"):
        if feature.vocab_from_data.min_count < 1 or feature.vocab_from_data.max_size < 0:
            raise ConfigError("min_count must be >= 1 and max_size >= 0.", path=path + ".vocab_from_data")
        if allow_unfilled:
            chosen = ["vocab_from_data"]  # the statistics replace any other choice
        elif not chosen:
            raise ConfigError(f"vocab_from_data {RUN_STATS} (or set one of {', '.join(choices)}).",
                              path=path + ".vocab_from_data")
    if len(chosen) != 1:
        raise ConfigError(f"set exactly one of {', '.join(choices)}. Received: {chosen or 'none'}.", path=path)
    check_positive(feature.embedding_dim, path + ".embedding_dim")
    for name in ("hash_bucket_size", "num_buckets"):
        if name in choices and feature.HasField(name):
            check_positive(getattr(feature, name), f"{path}.{name}")
    if feature.HasField("dynamic"):
        check_dynamic(feature.dynamic, path + ".dynamic")
        if feature.embedding.pretrained_file:
            raise ConfigError("a dynamic table has no fixed row per id to load pretrained rows "
                              "into; leave pretrained_file out.",
                              path=path + ".embedding.pretrained_file")
    if feature.num_oov_buckets < 1:
        raise ConfigError(f"must be at least 1 (values outside the vocabulary need a row). "
                          f"Received: {feature.num_oov_buckets}.", path=path + ".num_oov_buckets")
    seen = {}
    for j, value in enumerate(feature.vocab_list):
        if value in seen:
            raise ConfigError(f"duplicate vocabulary entry {value!r} (also entry {seen[value]}); "
                              "each value needs one row.", path=f"{path}.vocab_list[{j}]")
        seen[value] = j


def check_init(feature, path):
    """EmbeddingOptions.init_stddev, when set, is positive."""
    if feature.embedding.HasField("init_stddev") and not feature.embedding.init_stddev > 0:
        raise ConfigError(f"must be positive. Received: {feature.embedding.init_stddev}.",
                          path=path + ".embedding.init_stddev")


def check_dynamic(dynamic, path):
    """The settings of a DynamicEmbedding (admission, eviction, sketch, decay)."""
    if dynamic.capacity <= 0:
        raise ConfigError(f"a dynamic table needs a positive capacity (rows for admitted ids). "
                          f"Received: {dynamic.capacity}.", path=path + ".capacity")
    if dynamic.admit_after < 1:
        raise ConfigError(f"must be at least 1 (1 admits an id at its first sighting). Received: "
                          f"{dynamic.admit_after}.", path=path + ".admit_after")
    if not 0 < dynamic.evict_fraction <= 1:
        raise ConfigError(f"must be in (0, 1]. Received: {dynamic.evict_fraction}.",
                          path=path + ".evict_fraction")
    if dynamic.sketch_width < 0 or dynamic.sketch_depth < 1:
        raise ConfigError(f"sketch_width must be >= 0 and sketch_depth >= 1. Received: "
                          f"{dynamic.sketch_width} and {dynamic.sketch_depth}.", path=path)
    if dynamic.decay_every_steps < 0:
        raise ConfigError(f"must be >= 0 (0: counts never decay). Received: "
                          f"{dynamic.decay_every_steps}.", path=path + ".decay_every_steps")
    if dynamic.decay_every_steps and not 0 <= dynamic.count_decay < 1:
        raise ConfigError(f"must be in [0, 1) (the factor counts are multiplied by every "
                          f"decay_every_steps steps). Received: {dynamic.count_decay}.",
                          path=path + ".count_decay")


def table(feature, path):
    """The table of a categorical feature: a dynamic table's capacity + 1 (the shared default
    row), the hash buckets, num_buckets + 1 (the out-of-range row) or the vocabulary plus its
    OOV rows (a vocab_file's rows are counted when the column is built: 0 here)."""
    dynamic = "dynamic" in feature.DESCRIPTOR.fields_by_name and feature.HasField("dynamic")
    if dynamic:
        rows, field = feature.dynamic.capacity + 1, path + ".dynamic.capacity"
    elif feature.HasField("hash_bucket_size"):
        rows, field = feature.hash_bucket_size, path + ".hash_bucket_size"
    elif getattr(feature, "num_buckets", 0):
        rows, field = feature.num_buckets + 1, path + ".num_buckets"
    elif feature.vocab_list:
        rows, field = len(feature.vocab_list) + max(feature.num_oov_buckets, 1), path + ".vocab_list"
    else:
        rows, field = 0, path
    if feature.HasField("hash_bucket_size") or dynamic:
        # A dynamic table's rows mean nothing without its id mapping: warm_start_dynamic
        # carries them together.
        meaning = spec.HASH
    elif getattr(feature, "num_buckets", 0):
        meaning = spec.IDENTITY
    else:
        meaning = spec.VOCAB
    return spec.TableSpec(rows, feature.embedding_dim, field, meaning)


def vocabulary_wanted(feature):
    return feature.HasField("vocab_from_data")
