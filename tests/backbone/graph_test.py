"""The block graph: order, inputs, multi-output selection, registry completeness."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import backbone
from easyrank.backbone import graph, registry
from easyrank.errors import ConfigError
from easyrank.features import GroupOutput
from easyrank.protos import block_pb2


def parse(text):
    return text_format.Parse(text, block_pb2.Backbone())


def test_topological_order_breaks_ties_by_config_order():
    config = parse("""
      blocks { name: "top" inputs { block: "a" } inputs { block: "b" } concat {} }
      blocks { name: "b" inputs { feature_group: "g" } mlp { hidden_units: [2] } }
      blocks { name: "a" inputs { feature_group: "g" } mlp { hidden_units: [3] } }
    """)
    assert [config.blocks[i].name for i in graph.topological_order(config.blocks)] == ["b", "a", "top"]


def test_backbone_runs_blocks_and_concatenates_inputs():
    config = parse("""
      blocks { name: "a" inputs { feature_group: "g" } mlp { hidden_units: [3] } }
      blocks { name: "top" inputs { block: "a" } inputs { feature_group: "g" } concat {} }
    """)
    layer = backbone.Backbone(config)
    x = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 4))
    out = layer({"g": GroupOutput(x, tf.reshape(x, [2, 2, 2]))})
    assert layer.output_block == "top"
    assert out["a"].shape == (2, 3)
    np.testing.assert_allclose(out["top"].numpy(), np.concatenate([out["a"].numpy(), x.numpy()], axis=1))


def test_concat_flattens_stacked_block_outputs():
    x = tf.ones([2, 3, 4])
    assert graph.flatten(x).shape == (2, 12)


def test_output_index_selects_one_output():
    source = text_format.Parse('block: "m" output_index: 1', block_pb2.BlockInput())
    outputs = {"m": [tf.zeros([1, 2]), tf.ones([1, 2])]}
    np.testing.assert_array_equal(graph.resolve_input(source, {}, outputs).numpy(), [[1, 1]])
    source.output_index = 5
    with pytest.raises(ConfigError, match="output_index 5 out of range"):
        graph.resolve_input(source, {}, outputs, path="p")


def test_stacked_input_of_mixed_width_group_is_a_config_error():
    source = text_format.Parse('feature_group: "g"', block_pb2.BlockInput())
    with pytest.raises(ConfigError, match="has no stacked form"):
        graph.resolve_input(source, {"g": GroupOutput(tf.zeros([1, 3]), None)}, {}, "stacked", path="p")


def test_every_block_type_has_a_builder_and_vice_versa():
    oneof = block_pb2.Block.DESCRIPTOR.oneofs_by_name["layer"]
    assert sorted(f.name for f in oneof.fields) == registry.registered()


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        registry.register_block("mlp")(lambda message, context: None)


def test_config_error_raised_inside_a_layer_call_keeps_its_path():
    from easyrank.backbone import builders  # noqa: F401
    config = parse('blocks { name: "s" inputs { feature_group: "g" } senet {} }')
    layer = backbone.Backbone(config)
    with pytest.raises(ConfigError) as info:
        layer({"g": GroupOutput(tf.zeros([1, 3]), None)})
    assert info.value.path == "model_config.backbone.blocks[0].inputs[0]"
