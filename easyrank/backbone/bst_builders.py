"""Builder of the bst block: a transformer over a sequence group (BST)."""

from easyrank.backbone.registry import register_block
from easyrank.backbone.sequence_builders import OnSequenceGroup, check_query
from easyrank.errors import ConfigError
from easyrank.layers.bst import BST
from easyrank.protos import block_pb2

_POOLINGS = {
    block_pb2.BST.POOLING_FLATTEN: "flatten",
    block_pb2.BST.POOLING_TARGET: "target",
    block_pb2.BST.POOLING_MEAN: "mean",
}


@register_block("bst", input_format="sequence", merge_inputs=False)
def build_bst(message, context):
    path = context.path + ".bst"
    if message.pooling not in _POOLINGS:
        raise ConfigError("set pooling to POOLING_FLATTEN, POOLING_TARGET or POOLING_MEAN.",
                          path=path + ".pooling")
    try:
        layer = BST(num_layers=message.num_layers, num_heads=message.num_heads,
                    intermediate_dim=message.intermediate_dim or None,
                    activation=message.activation, dropout_rate=message.dropout_rate,
                    pooling=_POOLINGS[message.pooling], use_position=message.use_position,
                    name="bst")
    except ValueError as e:
        raise ConfigError(str(e), path=path) from None
    check_query(context, "bst")
    return OnSequenceGroup(layer, use_query=True, name=context.name)
