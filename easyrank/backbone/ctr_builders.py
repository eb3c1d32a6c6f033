"""Builders of the classic CTR blocks: fm, wide (DeepFM, Wide & Deep) and
dot_interaction (DLRM).

fm and wide read the stacked [B, F, D] form of their inputs (several inputs are
stacked along the field axis); dot_interaction takes its inputs as a list,
feature groups in stacked form and block outputs as they are. Widths known when
the config is compiled (feature groups') are checked here; the layers check the
rest when they are built.
"""

from easyrank.backbone.registry import register_block
from easyrank.errors import ConfigError
from easyrank.layers.dot_interaction import DotInteraction
from easyrank.layers.fm import FM
from easyrank.layers.wide import Wide


@register_block("fm", input_format="stacked")
def build_fm(message, context):
    return FM(reduce_sum=message.reduce_sum, name=context.name)


def _group_widths(context):
    """[(input index, D)] of the inputs whose stacked shape (F, D) is known."""
    return [(j, shape[-1]) for j, shape in enumerate(context.input_shapes) if shape is not None]


@register_block("wide", input_format="stacked")
def build_wide(message, context):
    for j, width in _group_widths(context):
        if width != 1:
            raise ConfigError(f"block {context.name!r}: wide reads one-dimensional features, but this "
                              f"group's are {width} wide; give the wide features embedding_dim: 1 "
                              "(e.g. id features with input_name of the deep ones) in a group of "
                              "their own.", path=f"{context.path}.inputs[{j}]")
    return Wide(use_bias=message.use_bias, name=context.name)


@register_block("dot_interaction", input_format="stacked", merge_inputs=False)
def build_dot_interaction(message, context):
    widths = _group_widths(context)
    for j, width in widths[1:]:
        if width != widths[0][1]:
            raise ConfigError(f"block {context.name!r}: dot_interaction needs vectors of one width; "
                              f"inputs[{widths[0][0]}] is {widths[0][1]} wide and inputs[{j}] {width}.",
                              path=f"{context.path}.inputs[{j}]")
    return DotInteraction(self_interaction=message.self_interaction, name=context.name)
