"""Builders: one small function per block type (proto message -> layer).

Builders read fields as they are (defaults live in the .proto files) and
check only rules that span fields; the layers validate their own arguments.
"""

import tf_keras

from easyrank.backbone.registry import register_block
from easyrank.errors import ConfigError
from easyrank.layers.mlp import MLP


def mlp_kwargs(message, path):
    """Keyword arguments of layers.MLP from an MLP message (also used by towers)."""
    if not message.hidden_units:
        raise ConfigError("mlp needs hidden_units, e.g. hidden_units: [256, 128].",
                          path=path + ".hidden_units")
    if not 0 <= message.dropout_rate < 1:
        raise ConfigError(f"must be in [0, 1). Received: {message.dropout_rate}.",
                          path=path + ".dropout_rate")
    return dict(hidden_units=list(message.hidden_units), activation=message.activation,
                dropout_rate=message.dropout_rate, use_batch_norm=message.use_batch_norm,
                use_layer_norm=message.use_layer_norm,
                output_activation=message.output_activation or None)


@register_block("mlp")
def build_mlp(message, context):
    kwargs = mlp_kwargs(message, context.path + ".mlp")
    try:
        return MLP(name=context.name, **kwargs)
    except ValueError as e:
        raise ConfigError(str(e), path=context.path + ".mlp") from None


@register_block("concat", merge_inputs=True)
def build_concat(message, context):
    del message
    return tf_keras.layers.Identity(name=context.name)
