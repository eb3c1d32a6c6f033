"""Builders of the classic CTR blocks: fm, wide (DeepFM, Wide & Deep) and
dot_interaction (DLRM).

fm and wide read the stacked [B, F, D] form of their inputs (several inputs are
stacked along the field axis); dot_interaction takes its inputs as a list,
feature groups in stacked form and block outputs as they are.
"""

from easyrank.backbone.registry import register_block
from easyrank.layers.dot_interaction import DotInteraction
from easyrank.layers.fm import FM
from easyrank.layers.wide import Wide


@register_block("fm", input_format="stacked")
def build_fm(message, context):
    return FM(reduce_sum=message.reduce_sum, name=context.name)


@register_block("wide", input_format="stacked")
def build_wide(message, context):
    return Wide(use_bias=message.use_bias, name=context.name)


@register_block("dot_interaction", input_format="stacked", merge_inputs=False)
def build_dot_interaction(message, context):
    return DotInteraction(self_interaction=message.self_interaction, name=context.name)
