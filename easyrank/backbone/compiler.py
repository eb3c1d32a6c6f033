"""Compiles the Backbone message into block layers and plain wiring.

    backbone, outputs = compile_backbone(config.model_config.backbone, group_shapes, seed)

Every config mistake of the backbone, including those that depend on shapes (a
stacked read of a group of mixed widths, din's query width, an unselected
output of a multi-output block), is a ConfigError raised here, before any layer
runs. `group_shapes` is FeatureGroups.output_shapes().
"""

import dataclasses

from easyrank.backbone import registry
from easyrank.backbone.graph import Backbone, BlockNode, InputRef
from easyrank.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BlockOutputs:
    """What a block returns: one tensor (count None) or a list of `count`, maybe named."""

    count: int | None = None
    names: tuple = ()


def topological_order(blocks):
    """Block indices in dependency order, ties broken by config order.

    The config was validated (names resolve, no cycles) before this runs.
    """
    index = {b.name: i for i, b in enumerate(blocks)}
    done, order = set(), []
    while len(order) < len(blocks):
        for i, block in enumerate(blocks):
            deps = {index[s.block] for s in block.inputs if s.WhichOneof("source") == "block"}
            if i not in done and deps <= done:
                done.add(i)
                order.append(i)
                break
    return order


def compile_backbone(backbone_config, group_shapes, seed=0):
    """Builds every block's layer and its wiring.

    Args:
      backbone_config: a validated Backbone message.
      group_shapes: {group name: GroupOutput of per-example shapes}.
      seed: the training seed, for builders.
    Returns:
      (Backbone layer, {block name: BlockOutputs}).
    """
    blocks = list(backbone_config.blocks)
    nodes, outputs = [], {}
    for i in topological_order(blocks):
        block = blocks[i]
        path = f"model_config.backbone.blocks[{i}]"
        spec = registry.lookup(block, path)
        message = getattr(block, block.WhichOneof("layer"))
        if spec.input_format == "sequence" and (
                len(block.inputs) != 1 or block.inputs[0].WhichOneof("source") != "feature_group"):
            raise ConfigError(f"block {block.name!r}: a sequence block reads exactly one input, a "
                              "feature group with sequence features.", path=path + ".inputs")
        refs, shapes = [], []
        for j, source in enumerate(block.inputs):
            ref, shape = compile_input(source, group_shapes, outputs, spec.input_format,
                                       f"{path}.inputs[{j}]", reader=f"block {block.name!r}")
            refs.append(ref)
            shapes.append(shape)
        context = registry.BuildContext(name=block.name, path=path, seed=seed,
                                        input_shapes=tuple(shapes))
        layer = spec.builder(message, context)
        split = ()
        if callable(spec.merge_inputs):
            how, split = "split", tuple(spec.merge_inputs(message, len(block.inputs), path))
        elif spec.merge_inputs:
            how = "stacked" if spec.input_format == "stacked" else "concat"
        else:
            how = "list"
        nodes.append(BlockNode(block.name, layer, tuple(refs), how, split))
        outputs[block.name] = BlockOutputs(
            spec.num_outputs(message) if spec.num_outputs else None,
            tuple(spec.output_names(message)) if spec.output_names else ())
    output_block = backbone_config.output_block or (blocks[-1].name if blocks else None)
    return Backbone(nodes, output_block), outputs


def compile_input(source, group_shapes, outputs, form="concat", path="", reader="the input"):
    """Checks a BlockInput message against what it names; returns (InputRef, shape).

    Args:
      source: a validated BlockInput (its feature group or block exists).
      group_shapes: {group name: GroupOutput of per-example shapes}.
      outputs: {block name: BlockOutputs} of the blocks compiled so far.
      form: the feature group form the reader takes.
      path: the field path of `source`, for ConfigError.
      reader: who reads it, for messages ("block 'top'", "task 'ctr'").
    The shape is the feature group form's per-example shape, or None for a block output.
    """
    kind = source.WhichOneof("source")
    name = getattr(source, kind)
    if kind == "feature_group":
        shape = getattr(group_shapes[name], form)
        if shape is None:
            raise ConfigError(
                f"{reader}: feature group {name!r} has no {form} form (a stacked group needs features "
                "of one width; a sequence group needs sequence features and is read only by sequence "
                "blocks such as din, bst and sequence_pool).", path=path)
        produced = BlockOutputs()
    else:
        shape, produced = None, outputs[name]
    index = None
    if source.HasField("output_index"):
        if produced.count is None:
            raise ConfigError(f"output_index is set but {name!r} has one output.",
                              path=path + ".output_index")
        if not 0 <= source.output_index < produced.count:
            raise ConfigError(f"output_index {source.output_index} out of range: {name!r} has "
                              f"{produced.count} outputs.", path=path + ".output_index")
        index = source.output_index
    elif source.output_name:
        if not produced.names:
            raise ConfigError(f"output_name is set but {name!r} has no named outputs; use "
                              "output_index.", path=path + ".output_name")
        if source.output_name not in produced.names:
            raise ConfigError(f"no output named {source.output_name!r} in block {name!r}; its "
                              f"outputs are {', '.join(produced.names)}.", path=path + ".output_name")
        index = produced.names.index(source.output_name)
    elif produced.count is not None:
        raise ConfigError(f"{reader} reads block {name!r}, which has one output per task; pick "
                          "one with input { block: ... output_index: k } or output_name.", path=path)
    return InputRef(name, kind == "feature_group", form, index), shape
