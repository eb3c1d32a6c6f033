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
`num_outputs`, a function `message -> int`, marks a block that returns a list
of outputs (one per task, e.g. MMoE); `output_names`, a function
`message -> [names]`, names them for BlockInput.output_name.

Builders run when the config is compiled (backbone.compiler), never inside a
layer's call: every ConfigError is raised before any tensor is computed.
"""

import dataclasses

from easyrank.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    builder: object
    input_format: str = "concat"
    merge_inputs: object = True    # True, False or a grouping function
    output_names: object = None    # None or a function message -> [names]
    num_outputs: object = None     # None (one output) or a function message -> int


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a builder may know besides its message."""

    name: str          # the block's name
    path: str          # the block's field path, for ConfigError
    seed: int = 0      # the training seed
    # Per input, its shape without the batch axis when known before running: a
    # feature group's form (a tuple, or a features.SequenceInput of tuples for
    # sequence blocks); None for a block output. Empty when not compiled.
    input_shapes: tuple = ()


_REGISTRY = {}


def register_block(oneof_name, input_format="concat", merge_inputs=True, output_names=None,
                   num_outputs=None):
    """Decorator registering a builder for the Block.layer oneof field `oneof_name`."""
    if input_format not in ("concat", "stacked", "sequence"):
        raise ValueError(f"unknown input_format {input_format!r}")

    def decorate(builder):
        if oneof_name in _REGISTRY:
            raise ValueError(f"a builder for block {oneof_name!r} is already registered")
        _REGISTRY[oneof_name] = BlockSpec(builder, input_format, merge_inputs, output_names,
                                         num_outputs)
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
