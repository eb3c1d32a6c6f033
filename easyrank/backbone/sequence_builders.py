"""Builders of the sequence blocks (din, sequence_pool).

Both read one sequence feature group (features.SequenceInput: query [B, E],
keys [B, T, E], lengths [B]); `OnSequenceGroup` hands the layer the parts it
takes. The compiled backbone checks that a sequence block reads exactly one
sequence group; din's builder checks its query against the group's shapes.
"""

import tf_keras

from easyrank.backbone.registry import register_block
from easyrank.errors import ConfigError
from easyrank.layers.din import DIN
from easyrank.layers.sequence_pool import SequencePool
from easyrank.protos import block_pb2

_POOLINGS = {
    block_pb2.SequencePool.POOLING_SUM: "sum",
    block_pb2.SequencePool.POOLING_MEAN: "mean",
    block_pb2.SequencePool.POOLING_MAX: "max",
}


class OnSequenceGroup(tf_keras.layers.Layer):
    """Calls `layer` on (query, keys, lengths) or (keys, lengths) of one sequence group.

    Args:
      layer: the wrapped layer.
      use_query: pass the query too (DIN) or not (SequencePool).
    """

    def __init__(self, layer, use_query, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.use_query = use_query

    def call(self, inputs, training=None):
        sequence = inputs[0]
        if not self.use_query:
            return self.layer((sequence.keys, sequence.lengths))
        return self.layer((sequence.query, sequence.keys, sequence.lengths), training=training)


def check_query(context, kind="din"):
    """The query (the group's non-sequence features) of a `kind` block exists and is as wide
    as its keys."""
    if not context.input_shapes:  # built outside a compiled backbone
        return
    query, keys = context.input_shapes[0].query, context.input_shapes[0].keys
    if query is None:
        raise ConfigError(f"block {context.name!r}: {kind} needs a query: add the target item's "
                          "features (e.g. movie_id) to the sequence group, in the order of its sequence features.",
                          path=context.path + ".inputs[0]")
    if query[-1] != keys[-1]:
        raise ConfigError(
            f"block {context.name!r}: the query (the group's non-sequence features, width {query[-1]}) and the "
            f"keys (its sequence features, width {keys[-1]}) must have the same width; "
            "list the same item features on both sides, sharing tables by embedding_name.",
            path=context.path + ".inputs[0]")


@register_block("din", input_format="sequence", merge_inputs=False)
def build_din(message, context):
    path = context.path + ".din"
    if not message.attention_units:
        raise ConfigError("din needs attention_units, e.g. attention_units: [64, 32].",
                          path=path + ".attention_units")
    try:
        layer = DIN(attention_units=list(message.attention_units),
                    attention_activation=message.attention_activation,
                    normalize=message.normalize, name="din")
    except ValueError as e:
        raise ConfigError(str(e), path=path) from None
    check_query(context)
    return OnSequenceGroup(layer, use_query=True, name=context.name)


@register_block("sequence_pool", input_format="sequence", merge_inputs=False)
def build_sequence_pool(message, context):
    if message.pooling not in _POOLINGS:
        raise ConfigError("set pooling to POOLING_SUM, POOLING_MEAN or POOLING_MAX.",
                          path=context.path + ".sequence_pool.pooling")
    layer = SequencePool(pooling=_POOLINGS[message.pooling], name="sequence_pool")
    return OnSequenceGroup(layer, use_query=False, name=context.name)
