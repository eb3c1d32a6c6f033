"""Input fields as tensors: their dtypes and default values."""

import tensorflow as tf

from easyrank.protos import data_pb2

_DTYPES = {
    data_pb2.InputField.STRING: tf.string,
    data_pb2.InputField.INT64: tf.int64,
    data_pb2.InputField.FLOAT: tf.float32,
}


def input_signature_fields(data_config):
    """Returns [(name, dtype, default)] of the model's feature inputs (labels excluded).

    A vector field (`length` > 0) has a list of `length` floats as its default: its input is
    [B, length] where every other input is [B].
    """
    skip = set(data_config.label_fields) | {data_config.sample_weight_field}
    return [(f.name, _DTYPES[f.type], default_value(f))
            for f in data_config.input_fields if f.name not in skip]


def default_value(field):
    """The Python default of an input field, typed (a list of `length` floats for a vector)."""
    if field.length > 0:
        return [float(field.default_value or 0)] * field.length
    if field.type == data_pb2.InputField.STRING:
        return field.default_value
    if field.type == data_pb2.InputField.INT64:
        return int(float(field.default_value or 0))
    return float(field.default_value or 0)


def field_dtype(field):
    """The tf.DType of an input field."""
    return _DTYPES[field.type]
