"""Checks shared by several feature kinds."""

from easyrank.errors import ConfigError

RUN_STATS = ("is left to the data: run `python -m easyrank.stats --pipeline_config_path CONFIG "
             "--output_config NEW` and train with NEW")


def input_of(feature):
    """The input field a single-input feature reads: input_name, or its name."""
    return feature.input_name or feature.name


def single_input(feature, context, path, vector=False):
    """The InputField of a feature that reads one field (input_name, default name): it exists,
    is not a label and is not a vector (a FLOAT field with length) unless `vector`."""
    input_name = input_of(feature)
    if input_name not in context.fields:
        raise ConfigError(f"input field {input_name!r} is not among data_config.input_fields.",
                          path=path + (".input_name" if feature.input_name else ".name"))
    if input_name in context.labels:
        raise ConfigError(f"{input_name!r} is a label or sample weight and cannot be a feature.",
                          path=path)
    field = context.fields[input_name]
    if field.length and not vector:
        raise ConfigError(f"input field {field.name!r} is a vector (length {field.length}); only a "
                          "vector_feature reads it.", path=path)
    return field


def check_positive(value, path):
    if value <= 0:
        raise ConfigError(f"must be positive. Received: {value}.", path=path)
