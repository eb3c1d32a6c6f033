"""The block registry: proto oneof name -> builder.

    @register_block("mlp")
    def build_mlp(message, context):
        return MLP(hidden_units=list(message.hidden_units), ...)

A builder takes the block's typed message and a BuildContext and returns a
tf_keras layer. `input_format` says which form of a feature group the layer
reads ("concat" [B, M], "stacked" [B, F, D], or "sequence"), and `merge_inputs`
whether several inputs are concatenated into one tensor (True) or passed as a
list (False); it may also be a function `(message, num_inputs, path) -> [sizes]`
that splits the inputs into consecutive groups, each concatenated (rank-3 ones
flattened), passed as a tuple (e.g. MMoE's (expert_input, gate_input)).
`output_names`, a function `message -> [names]`, names the outputs of a block
that returns a list, for BlockInput.output_name.
"""

import dataclasses

from easyrank.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    builder: object
    input_format: str = "concat"
    merge_inputs: object = True    # True, False or a grouping function
    output_names: object = None    # None or a function message -> [names]


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a builder may know besides its message."""

    name: str          # the block's name
    path: str          # the block's field path, for ConfigError
    seed: int = 0      # the training seed


_REGISTRY = {}


def register_block(oneof_name, input_format="concat", merge_inputs=True, output_names=None):
    """Decorator registering a builder for the Block.layer oneof field `oneof_name`."""
    if input_format not in ("concat", "stacked", "sequence"):
        raise ValueError(f"unknown input_format {input_format!r}")

    def decorate(builder):
        if oneof_name in _REGISTRY:
            raise ValueError(f"a builder for block {oneof_name!r} is already registered")
        _REGISTRY[oneof_name] = BlockSpec(builder, input_format, merge_inputs, output_names)
        return builder

    return decorate


def lookup(block, path):
    """Returns the BlockSpec for a Block message, or raises ConfigError."""
    kind = block.WhichOneof("layer")
    if kind is None or kind not in _REGISTRY:
        choices = ", ".join(sorted(_REGISTRY))
        what = "has no layer type" if kind is None else f"uses {kind!r}, which has no builder"
        raise ConfigError(f"block {block.name!r} {what}; choose one of {choices}.", path=path)
    return _REGISTRY[kind]


def registered():
    """Names of all registered blocks."""
    return sorted(_REGISTRY)
