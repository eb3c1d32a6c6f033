"""Builder tests for the din and sequence_pool blocks, on sequence feature groups."""

import easyrank  # noqa: F401  (before tensorflow)

# isort: split

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.backbone import registry
from easyrank.backbone.compiler import compile_backbone
from easyrank.errors import ConfigError
from easyrank.features.groups import GroupOutput, SequenceInput, shapes_of
from easyrank.layers.din import DIN
from easyrank.layers.sequence_pool import SequencePool
from easyrank.protos import block_pb2

PATH = "model_config.backbone.blocks[0]"
B, T, E = 3, 4, 6


def build(text):
    block = text_format.Parse('name: "b" inputs { feature_group: "g" } ' + text, block_pb2.Block())
    spec = registry.lookup(block, PATH)
    assert (spec.input_format, spec.merge_inputs) == ("sequence", False)
    context = registry.BuildContext(name=block.name, path=PATH)
    return spec.builder(getattr(block, block.WhichOneof("layer")), context)


def sequence_group(query_width=E):
    rng = np.random.default_rng(3)
    query = None if query_width is None else tf.constant(rng.normal(size=(B, query_width)), tf.float32)
    keys = tf.constant(rng.normal(size=(B, T, E)), tf.float32)
    return GroupOutput(None, None, SequenceInput(query, keys, tf.constant([2, 0, 9])))


def run_backbone(block_text, group):
    config = text_format.Parse(
        'blocks { name: "b" inputs { feature_group: "g" } ' + block_text + " }", block_pb2.Backbone())
    backbone, _ = compile_backbone(config, shapes_of({"g": group}))
    return backbone, backbone({"g": group})["b"]


def test_din_builder_defaults_and_values():
    layer = build("din { attention_units: [8, 4] }")
    assert isinstance(layer.layer, DIN) and layer.name == "b"
    config = layer.layer.get_config()
    assert (config["attention_units"], config["attention_activation"], config["normalize"]) == (
        [8, 4], "sigmoid", False)
    config = build('din { attention_units: [5] attention_activation: "dice" normalize: true }'
                   ).layer.get_config()
    assert (config["attention_units"], config["attention_activation"], config["normalize"]) == (
        [5], "dice", True)


@pytest.mark.parametrize("pooling, name", [("", "mean"), ("pooling: POOLING_SUM", "sum"),
                                           ("pooling: POOLING_MAX", "max")])
def test_sequence_pool_builder(pooling, name):
    layer = build(f"sequence_pool {{ {pooling} }}")
    assert isinstance(layer.layer, SequencePool) and layer.layer.get_config()["pooling"] == name


@pytest.mark.parametrize("text, path, message", [
    ("din {}", PATH + ".din.attention_units", "needs attention_units"),
    ('din { attention_units: [4] attention_activation: "nope" }', PATH + ".din", "nope"),
    ("din { attention_units: [0] }", PATH + ".din", "attention_units"),
    ("sequence_pool { pooling: POOLING_UNSPECIFIED }", PATH + ".sequence_pool.pooling", "POOLING_MEAN"),
])
def test_bad_parameters(text, path, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(text)
    assert info.value.path == path


def test_din_block_matches_the_layer_and_gives_zeros_for_empty_history():
    group = sequence_group()
    backbone, out = run_backbone("din { attention_units: [8, 4] normalize: true }", group)
    din = backbone.block_layers["b"].layer
    expected = din((group.sequence.query, group.sequence.keys, group.sequence.lengths))
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.shape == (B, E)
    np.testing.assert_array_equal(out[1], np.zeros(E))  # length 0
    assert np.all(np.isfinite(out))


def test_sequence_pool_block_means_the_valid_positions():
    group = sequence_group(query_width=None)
    _, out = run_backbone("sequence_pool {}", group)
    keys = group.sequence.keys.numpy()
    np.testing.assert_allclose(out[0], keys[0, :2].mean(0), rtol=1e-6)
    np.testing.assert_array_equal(out[1], np.zeros(E))
    np.testing.assert_allclose(out[2], keys[2].mean(0), rtol=1e-6)  # length 9 > T: all T


def test_din_without_query_or_with_mismatched_widths_is_a_config_error():
    with pytest.raises(ConfigError, match="din needs a query") as info:
        run_backbone("din { attention_units: [4] }", sequence_group(query_width=None))
    assert info.value.path == PATH + ".inputs[0]"
    with pytest.raises(ConfigError, match="width 5.*width 6.*must have the same width") as info:
        run_backbone("din { attention_units: [4] }", sequence_group(query_width=E - 1))
    assert info.value.path == PATH + ".inputs[0]"


def test_sequence_block_reads_exactly_one_sequence_group():
    config = text_format.Parse(
        'blocks { name: "p" inputs { feature_group: "g" } sequence_pool {} } '
        'blocks { name: "b" inputs { block: "p" } din { attention_units: [4] } }', block_pb2.Backbone())
    with pytest.raises(ConfigError, match="a sequence block reads exactly one input") as info:
        compile_backbone(config, shapes_of({"g": sequence_group()}))
    assert info.value.path == "model_config.backbone.blocks[1].inputs"


def test_plain_group_is_not_a_sequence_input():
    group = GroupOutput(tf.zeros([B, E]), None)
    with pytest.raises(ConfigError, match="no sequence form"):
        run_backbone("din { attention_units: [4] }", group)
