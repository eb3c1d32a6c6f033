"""Argument checks and conversions shared by the layers.

Each check takes the argument's name and value, returns the value in its
canonical form, and raises a ValueError that names the argument, says what was
expected and shows what was received, in the Keras style:

    `num_layers` must be a positive integer. Received: num_layers=0

The backbone builders turn such an error into a ConfigError on the config field
named between the first pair of backticks, so every message starts with it.
"""

from collections.abc import Sequence
from typing import NoReturn

import tf_keras

# Activation names that are layers with weights rather than plain functions.
LAYER_ACTIVATIONS = ("prelu", "dice")

# What a layer's initializer and regularizer arguments accept (as tf_keras' own layers do).
Initializer = str | dict | tf_keras.initializers.Initializer
Regularizer = str | dict | None | tf_keras.regularizers.Regularizer


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fail(arg_name: str, expected: str, value) -> NoReturn:
    raise ValueError(f"`{arg_name}` must be {expected}. Received: {arg_name}={value!r}")


def check_positive_int(arg_name: str, value, allow_none: bool = False) -> int | None:
    """Returns `value`, a positive int (or None when `allow_none`)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(arg_name, "a positive integer" + (" or None" if allow_none else ""), value)
    return value


def check_positive_number(arg_name: str, value) -> float:
    """Returns `value` > 0 as a float."""
    if not _is_number(value) or not value > 0:
        _fail(arg_name, "a positive number", value)
    return float(value)


def check_non_negative_number(arg_name: str, value) -> float:
    """Returns `value` >= 0 as a float."""
    if not _is_number(value) or not value >= 0:
        _fail(arg_name, "a non-negative number", value)
    return float(value)


def check_rate(arg_name: str, value) -> float:
    """Returns a probability in [0, 1) (a dropout rate, a momentum) as a float."""
    if not _is_number(value) or not 0 <= value < 1:
        _fail(arg_name, "a float in [0, 1)", value)
    return float(value)


def check_units(arg_name: str, value, allow_empty: bool = False) -> list[int]:
    """Returns a list of layer widths (positive ints) as a list."""
    ok = isinstance(value, Sequence) and not isinstance(value, str)
    if ok:
        units = list(value)
        ok = (allow_empty or units) and all(
            isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units
        )
    if not ok:
        what = "a list" if allow_empty else "a non-empty list"
        _fail(arg_name, f"{what} of positive integers", value)
    return units


def check_one_of(arg_name: str, value, choices: Sequence):
    """Returns `value` if it is one of `choices`."""
    if isinstance(value, bool) or value not in choices:
        _fail(arg_name, f"one of {list(choices)}", value)
    return value


def check_activation(arg_name: str, value, allow_layers: bool = True) -> str:
    """Returns an activation name.

    Any `tf_keras.activations` name, and, when `allow_layers`, "prelu" or
    "dice": activations with weights, see `easyrank.layers.mlp.make_activation`.
    """
    if isinstance(value, str):
        if value in LAYER_ACTIVATIONS:
            if allow_layers:
                return value
        else:
            try:
                tf_keras.activations.get(value)
                return value
            except (ValueError, TypeError):
                pass
    extra = ", 'prelu' or 'dice'" if allow_layers else ""
    _fail(arg_name, f"the name of a tf_keras activation{extra}", value)


def get_activation(arg_name: str, value):
    """Returns the activation function for a name, a config or a callable; None
    (the identity) for None."""
    if value is None:
        return None
    try:
        return tf_keras.activations.get(value)
    except (ValueError, TypeError):
        _fail(arg_name, "a tf_keras activation (a name such as 'relu', or a callable) or None",
              value)


def get_initializer(arg_name: str, value):
    """Returns the `tf_keras` initializer for a name, a config dict or an instance."""
    try:
        initializer = tf_keras.initializers.get(value)
        if initializer is None or callable(initializer):
            return initializer
    except (ValueError, TypeError):
        pass
    _fail(arg_name, "a tf_keras initializer (a name such as 'glorot_uniform', a config dict "
          "or an instance)", value)


def serialize_weight_args(layer, *names: str) -> dict:
    """{name: serialized value} of the layer's `*_initializer` and `*_regularizer`
    attributes `names`, for its get_config()."""
    serialize = {"initializer": tf_keras.initializers.serialize,
                 "regularizer": tf_keras.regularizers.serialize}
    return {name: serialize[name.rsplit("_", 1)[1]](getattr(layer, name)) for name in names}


def get_regularizer(arg_name: str, value):
    """Returns the `tf_keras` regularizer for a name, a config dict or an
    instance; None for None."""
    try:
        regularizer = tf_keras.regularizers.get(value)
        # tf_keras returns an unknown name as it is; it would fail in add_weight.
        if regularizer is None or callable(regularizer):
            return regularizer
    except (ValueError, TypeError):
        pass
    _fail(arg_name, "a tf_keras regularizer (a name such as 'l2', a config dict or an "
          "instance) or None", value)


def clone_initializer(initializer):
    """Returns a fresh initializer instance with the same config.

    An unseeded tf_keras initializer instance returns the same values each time
    it is called, so every weight gets its own instance.
    """
    return tf_keras.initializers.get(tf_keras.initializers.serialize(initializer))
