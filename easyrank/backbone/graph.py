"""The block graph as plain wiring, and the Backbone layer that runs it.

backbone.compiler turns a Backbone message into BlockNodes (each block's layer,
its InputRefs and how its inputs are merged) in topological order; Backbone
only runs them: every config check happened when the nodes were compiled.
"""

import dataclasses

import tensorflow as tf
import tf_keras


@dataclasses.dataclass(frozen=True)
class InputRef:
    """Where a block's or task's input comes from.

    source: a feature group's name (`group` True) or a block's name.
    form: the feature group form read: "concat" [B, M], "stacked" [B, F, D] or "sequence".
    index: which output of a multi-output block (e.g. MMoE's per-task outputs), or None.
    """

    source: str
    group: bool = False
    form: str = "concat"
    index: int | None = None


@dataclasses.dataclass(frozen=True)
class BlockNode:
    """One compiled block.

    merge: how the inputs reach the layer: "concat" (one [B, M] tensor, rank-3
    inputs flattened), "stacked" (one [B, F, D] tensor, stacked along the field
    axis), "list" (as they are) or "split" (a tuple of consecutive groups of
    `split` sizes, each concatenated as by "concat"; one group: its tensor).
    """

    name: str
    layer: tf_keras.layers.Layer
    inputs: tuple
    merge: str = "concat"
    split: tuple = ()


class Backbone(tf_keras.layers.Layer):
    """Runs compiled blocks on feature group outputs.

    call({group name: GroupOutput}) -> {block name: output}. `output_block` names
    the block that tasks read by default.

    Args:
      nodes: BlockNodes in an order where each block's inputs come first.
      output_block: the default block of the tasks (None: no blocks).
    """

    def __init__(self, nodes, output_block=None, **kwargs):
        super().__init__(**kwargs)
        # The tracked attribute that names the block variables in checkpoints.
        self.block_layers = {node.name: node.layer for node in nodes}
        self._nodes = tuple(nodes)
        self._output = output_block

    @property
    def output_block(self):
        return self._output

    def call(self, groups, training=None):
        outputs = {}
        for node in self._nodes:
            inputs = [gather(ref, groups, outputs) for ref in node.inputs]
            outputs[node.name] = node.layer(merge(inputs, node.merge, node.split), training=training)
        return outputs


def gather(ref, groups, outputs):
    """The value an InputRef names among feature group outputs and block outputs."""
    value = getattr(groups[ref.source], ref.form) if ref.group else outputs[ref.source]
    return value if ref.index is None else value[ref.index]


def merge(inputs, how, split=()):
    """The inputs of a block as its layer takes them (see BlockNode.merge)."""
    if how == "list":
        return inputs
    if how == "stacked":
        return inputs[0] if len(inputs) == 1 else tf.concat(inputs, axis=1)
    if how == "split":
        return merge_groups(inputs, split)
    return merge_groups(inputs, [len(inputs)])


def flatten(x):
    """[B, F, D] -> [B, F*D]; other ranks pass through."""
    if x.shape.rank == 3:
        return tf.reshape(x, [-1, x.shape[1] * x.shape[2]])
    return x


def merge_groups(inputs, sizes):
    """Splits `inputs` into consecutive groups of `sizes`; concatenates each (flattened).

    Returns a tuple of the groups' tensors, or the tensor itself for one group.
    """
    merged, start = [], 0
    for size in sizes:
        group = [flatten(x) for x in inputs[start:start + size]]
        merged.append(group[0] if len(group) == 1 else tf.concat(group, axis=-1))
        start += size
    return merged[0] if len(merged) == 1 else tuple(merged)
