"""Builders of the feature-interaction blocks (math: docs/blocks.md).

dcn_mix, cross and mask_net read the concatenated [B, M] form of their inputs;
senet and bilinear read the stacked [B, F, D] form (several inputs are stacked
along the field axis), so bilinear can read a senet block's output as is.

The low-rank dimension is `projection_dim` in every message and layer (DCNMix,
Cross, MaskNet), as in tensorflow-recommenders.
"""

import re

from easyrank.backbone.registry import register_block
from easyrank.errors import ConfigError
from easyrank.layers.bilinear import Bilinear
from easyrank.layers.cross import Cross
from easyrank.layers.dcn_mix import DCNMix
from easyrank.layers.mask_net import MaskNet
from easyrank.layers.senet import SENet
from easyrank.protos import block_pb2


def _make(layer_class, path, fields, **kwargs):
    """layer_class(**kwargs); a ValueError becomes a ConfigError on the field it names.

    `fields` maps layer argument names to message field names where they differ.
    """
    try:
        return layer_class(**kwargs)
    except ValueError as e:
        named = re.search(r"`(\w+)`", str(e))
        arg = named.group(1) if named else None
        field = fields.get(arg, arg) if arg in kwargs else None
        raise ConfigError(str(e), path=path + (f".{field}" if field else "")) from None


def _positive_or_none(message, field):
    """An optional size where unset or 0 means 'none'."""
    return getattr(message, field) if message.HasField(field) and getattr(message, field) else None


@register_block("dcn_mix")
def build_dcn_mix(message, context):
    return _make(DCNMix, context.path + ".dcn_mix", {},
                 name=context.name, num_layers=message.num_layers,
                 num_experts=message.num_experts, projection_dim=message.projection_dim,
                 use_low_rank_mixing=message.use_low_rank_mixing,
                 activation=message.activation or None)


@register_block("cross")
def build_cross(message, context):
    return _make(Cross, context.path + ".cross", {},
                 name=context.name, num_layers=message.num_layers,
                 projection_dim=_positive_or_none(message, "projection_dim"),
                 diag_scale=message.diag_scale, use_bias=message.use_bias)


@register_block("mask_net")
def build_mask_net(message, context):
    path = context.path + ".mask_net"
    if not message.HasField("output_size"):
        raise ConfigError("mask_net needs output_size, the width of each MaskBlock, "
                          "e.g. output_size: 64.", path=path + ".output_size")
    if message.HasField("aggregation_size") == message.HasField("reduction_factor"):
        raise ConfigError("set exactly one of aggregation_size and reduction_factor "
                          "(e.g. reduction_factor: 2).", path=path + ".aggregation_size")
    return _make(MaskNet, path, {},
                 name=context.name, num_blocks=message.num_blocks,
                 output_size=message.output_size,
                 aggregation_size=(message.aggregation_size
                                   if message.HasField("aggregation_size") else None),
                 reduction_factor=(message.reduction_factor
                                   if message.HasField("reduction_factor") else None),
                 projection_dim=_positive_or_none(message, "projection_dim"),
                 input_layer_norm=message.input_layer_norm, parallel=message.parallel,
                 activation=message.activation, hidden_units=list(message.hidden_units),
                 dropout_rate=message.dropout_rate, mlp_activation=message.mlp_activation,
                 layer_norm_epsilon=message.layer_norm_epsilon)


def _enum_choice(message, field, enum, prefix, path):
    """An enum field as the layer's lower-case string, e.g. SQUEEZE_MEAN -> "mean"."""
    value = getattr(message, field)
    name = enum.Name(value)
    if name.endswith("_UNSPECIFIED"):
        choices = ", ".join(n for n in enum.keys() if not n.endswith("_UNSPECIFIED"))
        raise ConfigError(f"{field} is unspecified; choose one of {choices}.",
                          path=f"{path}.{field}")
    return name[len(prefix):].lower()


@register_block("senet", input_format="stacked")
def build_senet(message, context):
    path = context.path + ".senet"
    pb = block_pb2.SENet
    return _make(SENet, path, {},
                 name=context.name, reduction_ratio=message.reduction_ratio,
                 squeeze=_enum_choice(message, "squeeze", pb.Squeeze, "SQUEEZE_", path),
                 weight_axis=_enum_choice(message, "weight_axis", pb.WeightAxis,
                                          "WEIGHT_AXIS_", path))


@register_block("bilinear", input_format="stacked")
def build_bilinear(message, context):
    path = context.path + ".bilinear"
    kind = _enum_choice(message, "bilinear_type", block_pb2.Bilinear.BilinearType,
                        "BILINEAR_TYPE_", path)
    return _make(Bilinear, path, {}, name=context.name, bilinear_type=kind,
                 flatten=message.flatten)
