"""The block graph: blocks run in topological order of their inputs."""

import tensorflow as tf
import tf_keras

from easyrank.backbone import registry
from easyrank.errors import ConfigError


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


def flatten(x):
    """[B, F, D] -> [B, F*D]; other ranks pass through."""
    if x.shape.rank == 3:
        return tf.reshape(x, [-1, x.shape[1] * x.shape[2]])
    return x


class Backbone(tf_keras.layers.Layer):
    """Runs the blocks of a Backbone message on feature group outputs.

    call({group name: GroupOutput}) -> {block name: output}. `output_block` names
    the block that tasks read by default.
    """

    def __init__(self, backbone_config, seed=0, **kwargs):
        super().__init__(**kwargs)
        self._blocks = list(backbone_config.blocks)
        self._order = topological_order(self._blocks)
        specs, block_layers, self.output_names, self._groups = {}, {}, {}, {}
        for i in self._order:
            block = self._blocks[i]
            path = f"model_config.backbone.blocks[{i}]"
            spec = registry.lookup(block, path)
            context = registry.BuildContext(name=block.name, path=path, seed=seed)
            specs[block.name] = (spec, path)
            message = getattr(block, block.WhichOneof("layer"))
            block_layers[block.name] = spec.builder(message, context)
            if spec.output_names is not None:
                self.output_names[block.name] = list(spec.output_names(message))
            # Input checks happen here: a ConfigError raised inside call() loses its path.
            if callable(spec.merge_inputs):
                self._groups[block.name] = spec.merge_inputs(message, len(block.inputs), path)
            for j, source in enumerate(block.inputs):
                if source.output_name:
                    output_name_index(source, self.output_names, f"{path}.inputs[{j}]")
        self._specs = specs
        self.block_layers = block_layers
        self._output = backbone_config.output_block or (self._blocks[-1].name if self._blocks else None)

    @property
    def output_block(self):
        return self._output

    def call(self, groups, training=None):
        outputs = {}
        for i in self._order:
            block = self._blocks[i]
            spec, path = self._specs[block.name]
            inputs = [resolve_input(s, groups, outputs, spec.input_format, f"{path}.inputs[{j}]",
                                    self.output_names)
                      for j, s in enumerate(block.inputs)]
            if callable(spec.merge_inputs):
                inputs = merge_groups(inputs, self._groups[block.name])
            elif spec.merge_inputs and spec.input_format == "stacked":
                # [B, F_k, D] inputs stay rank 3, stacked along the field axis.
                inputs = inputs[0] if len(inputs) == 1 else tf.concat(inputs, axis=1)
            elif spec.merge_inputs:
                inputs = [flatten(x) for x in inputs]
                inputs = inputs[0] if len(inputs) == 1 else tf.concat(inputs, axis=-1)
            outputs[block.name] = self.block_layers[block.name](inputs, training=training)
        return outputs


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


def resolve_input(source, groups, outputs, input_format="concat", path="", output_names=None):
    """The tensor a BlockInput names: a feature group in `input_format` or a block output.

    `output_names` ({block: [names]}) resolves BlockInput.output_name.
    """
    kind = source.WhichOneof("source")
    if kind == "feature_group":
        group = groups[source.feature_group]
        value = getattr(group, input_format, None)
        if value is None:
            raise ConfigError(
                f"feature group {source.feature_group!r} has no {input_format} form (a stacked "
                "group needs features of one width; a sequence group needs sequence features "
                "and is read only by sequence blocks such as din and sequence_pool).",
                path=path)
    else:
        value = outputs[source.block]
    if source.HasField("output_index"):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"output_index is set but {getattr(source, kind)!r} has one output.",
                              path=path + ".output_index")
        if not 0 <= source.output_index < len(value):
            raise ConfigError(f"output_index {source.output_index} out of range: "
                              f"{getattr(source, kind)!r} has {len(value)} outputs.", path=path + ".output_index")
        value = value[source.output_index]
    elif source.output_name:
        value = value[output_name_index(source, output_names, path)]
    return value


def output_name_index(source, output_names, path=""):
    """The index of BlockInput.output_name among its block's `output_names` ({block: [names]})."""
    kind = source.WhichOneof("source")
    names = (output_names or {}).get(source.block) if kind == "block" else None
    if not names:
        raise ConfigError(f"output_name is set but {getattr(source, kind)!r} has no named "
                          "outputs; use output_index.", path=path + ".output_name")
    if source.output_name not in names:
        raise ConfigError(f"no output named {source.output_name!r} in block {source.block!r}; "
                          f"its outputs are {', '.join(names)}.", path=path + ".output_name")
    return names.index(source.output_name)
