"""Builders of the sequence blocks (din, sequence_pool).

Both read one sequence feature group (features.SequenceInput: query [B, E],
keys [B, T, E], lengths [B]); `OnSequenceGroup` hands the layer the parts it
takes and reports a group that does not fit as a ConfigError naming the block.
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
      path: the block's config path, for errors.
    """

    def __init__(self, layer, use_query, path, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.use_query = use_query
        self.path = path

    def __call__(self, inputs, *args, **kwargs):
        # Checked before Layer.__call__ builds the wrapped layer (whose errors are ValueErrors).
        self._check(inputs)
        return super().__call__(inputs, *args, **kwargs)

    def _check(self, inputs):
        # The block is also named in the message: Keras may re-raise with the message only.
        where = f"block {self.name!r}: "
        if len(inputs) != 1 or not hasattr(inputs[0], "lengths"):
            raise ConfigError(where + "a sequence block reads exactly one input, a feature group with "
                              "sequence features.", path=self.path + ".inputs")
        query, keys = inputs[0].query, inputs[0].keys
        if not self.use_query:
            return
        if query is None:
            raise ConfigError(where + "din needs a query: add the target item's features (e.g. movie_id) "
                              "to the sequence group, in the order of its sequence features.",
                              path=self.path + ".inputs[0]")
        if query.shape[-1] != keys.shape[-1]:
            raise ConfigError(
                where + f"the query (the group's non-sequence features, width {query.shape[-1]}) and the "
                f"keys (its sequence features, width {keys.shape[-1]}) must have the same width; "
                "list the same item features on both sides, sharing tables by embedding_name.",
                path=self.path + ".inputs[0]")

    def call(self, inputs, training=None):
        sequence = inputs[0]
        if not self.use_query:
            return self.layer((sequence.keys, sequence.lengths))
        return self.layer((sequence.query, sequence.keys, sequence.lengths), training=training)


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
    return OnSequenceGroup(layer, use_query=True, path=context.path, name=context.name)


@register_block("sequence_pool", input_format="sequence", merge_inputs=False)
def build_sequence_pool(message, context):
    if message.pooling not in _POOLINGS:
        raise ConfigError("set pooling to POOLING_SUM, POOLING_MEAN or POOLING_MAX.",
                          path=context.path + ".sequence_pool.pooling")
    layer = SequencePool(pooling=_POOLINGS[message.pooling], name="sequence_pool")
    return OnSequenceGroup(layer, use_query=False, path=context.path, name=context.name)
