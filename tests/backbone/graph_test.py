"""The block graph: compile-time order, inputs and checks, multi-output selection, registry."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.backbone import compiler, graph, registry
from easyrank.errors import ConfigError
from easyrank.features import GroupOutput, shapes_of
from easyrank.protos import block_pb2


def parse(text):
    return text_format.Parse(text, block_pb2.Backbone())


def compile_on(config, groups):
    """The Backbone layer of `config`, compiled against the shapes of `groups`."""
    return compiler.compile_backbone(config, shapes_of(groups))[0]


def test_topological_order_breaks_ties_by_config_order():
    config = parse("""
      blocks { name: "top" inputs { block: "a" } inputs { block: "b" } concat {} }
      blocks { name: "b" inputs { feature_group: "g" } mlp { hidden_units: [2] } }
      blocks { name: "a" inputs { feature_group: "g" } mlp { hidden_units: [3] } }
    """)
    assert [config.blocks[i].name for i in compiler.topological_order(config.blocks)] == ["b", "a", "top"]


def test_backbone_runs_blocks_and_concatenates_inputs():
    config = parse("""
      blocks { name: "a" inputs { feature_group: "g" } mlp { hidden_units: [3] } }
      blocks { name: "top" inputs { block: "a" } inputs { feature_group: "g" } concat {} }
    """)
    x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 4))
    groups = {"g": GroupOutput(x, tf.reshape(x, [2, 2, 2]))}
    layer = compile_on(config, groups)
    out = layer(groups)
    assert layer.output_block == "top"
    assert out["a"].shape == (2, 3)
    np.testing.assert_allclose(out["top"].numpy(), np.concatenate([out["a"].numpy(), x.numpy()], axis=1))


def test_concat_flattens_stacked_block_outputs():
    x = tf.ones([2, 3, 4])
    assert graph.flatten(x).shape == (2, 12)


def test_output_index_selects_one_output():
    source = text_format.Parse('block: "m" output_index: 1', block_pb2.BlockInput())
    produced = {"m": compiler.BlockOutputs(2, ("a", "b"))}
    ref, shape = compiler.compile_input(source, {}, produced)
    assert ref == graph.InputRef("m", index=1) and shape is None
    outputs = {"m": [tf.zeros([1, 2]), tf.ones([1, 2])]}
    np.testing.assert_array_equal(graph.gather(ref, {}, outputs).numpy(), [[1, 1]])
    source.output_index = 5
    with pytest.raises(ConfigError, match="output_index 5 out of range") as info:
        compiler.compile_input(source, {}, produced, path="p")
    assert info.value.path == "p.output_index"


def test_stacked_input_of_mixed_width_group_is_a_config_error():
    source = text_format.Parse('feature_group: "g"', block_pb2.BlockInput())
    shapes = shapes_of({"g": GroupOutput(tf.zeros([1, 3]), None)})
    assert compiler.compile_input(source, shapes, {})[1] == (3,)
    with pytest.raises(ConfigError, match="has no stacked form"):
        compiler.compile_input(source, shapes, {}, "stacked", path="p")


def test_every_block_type_has_a_builder_and_vice_versa():
    oneof = block_pb2.Block.DESCRIPTOR.oneofs_by_name["layer"]
    assert sorted(f.name for f in oneof.fields) == registry.registered()


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        registry.register_block("mlp")(lambda message, context: None)


def test_input_errors_are_raised_when_compiling_not_when_calling():
    config = parse('blocks { name: "s" inputs { feature_group: "g" } senet {} }')
    with pytest.raises(ConfigError, match="has no stacked form") as info:
        compile_on(config, {"g": GroupOutput(tf.zeros([1, 3]), None)})
    assert info.value.path == "model_config.backbone.blocks[0].inputs[0]"


def test_reading_a_multi_output_block_needs_a_selection():
    config = parse("""
      blocks { name: "m" inputs { feature_group: "g" } mmoe { expert_units: [2] num_tasks: 2 } }
      blocks { name: "top" inputs { block: "m" } mlp { hidden_units: [2] } }
    """)
    groups = {"g": GroupOutput(tf.zeros([1, 3]), None)}
    with pytest.raises(ConfigError, match="block 'top' reads block 'm', which has one output per "
                       "task") as info:
        compile_on(config, groups)
    assert info.value.path == "model_config.backbone.blocks[1].inputs[0]"
    config.blocks[1].inputs[0].output_index = 1
    layer = compile_on(config, groups)
    assert layer(groups)["top"].shape == (1, 2)
    config.blocks[1].inputs[0].output_name = "b"
    config.blocks[1].inputs[0].ClearField("output_index")
    with pytest.raises(ConfigError, match="'m' has no named outputs"):
        compile_on(config, groups)


def test_nodes_hold_plain_wiring():
    config = parse("""
      blocks { name: "m" inputs { feature_group: "a" } inputs { feature_group: "b" }
               mmoe { expert_units: [2] task_names: ["x", "y"] num_gate_inputs: 1 } }
      blocks { name: "s" inputs { feature_group: "b" } senet {} }
    """)
    groups = {"a": GroupOutput(tf.zeros([1, 3]), None), "b": GroupOutput(tf.zeros([1, 4]), tf.zeros([1, 2, 2]))}
    layer, outputs = compiler.compile_backbone(config, shapes_of(groups))
    m, s = layer._nodes
    assert (m.name, m.merge, m.split) == ("m", "split", (1, 1))
    assert m.inputs == (graph.InputRef("a", True), graph.InputRef("b", True))
    assert (s.merge, s.inputs) == ("stacked", (graph.InputRef("b", True, "stacked"),))
    assert outputs == {"m": compiler.BlockOutputs(2, ("x", "y")), "s": compiler.BlockOutputs()}
    assert layer.block_layers == {"m": m.layer, "s": s.layer}
