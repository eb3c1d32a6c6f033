"""Builder tests for the fm, wide, dot_interaction, bst and custom blocks, and their config errors."""

import easyrank  # noqa: F401  (before tensorflow)

# isort: split

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.backbone import registry
from easyrank.backbone.compiler import compile_backbone
from easyrank.config.modules import import_modules
from easyrank.errors import ConfigError
from easyrank.features.groups import GroupOutput, SequenceInput, shapes_of
from easyrank.layers.bst import BST
from easyrank.layers.dot_interaction import DotInteraction
from easyrank.layers.fm import FM
from easyrank.layers.wide import Wide
from easyrank.protos import block_pb2

PATH = "model_config.backbone.blocks[0]"
B, F, D, T = 3, 4, 6, 5
RNG = np.random.default_rng(0)


def build(text):
    block = text_format.Parse('name: "b" inputs { feature_group: "g" } ' + text, block_pb2.Block())
    spec = registry.lookup(block, PATH)
    context = registry.BuildContext(name=block.name, path=PATH)
    return spec, spec.builder(getattr(block, block.WhichOneof("layer")), context)


def run_backbone(text, groups):
    backbone, _ = compile_backbone(text_format.Parse(text, block_pb2.Backbone()), shapes_of(groups))
    return backbone, backbone(groups)


def dense_group(widths):
    parts = [tf.constant(RNG.normal(size=(B, w)), tf.float32) for w in widths]
    concat = tf.concat(parts, axis=-1)
    return GroupOutput(concat, tf.stack(parts, axis=1) if len(set(widths)) == 1 else None)


def sequence_group():
    return GroupOutput(None, None, SequenceInput(
        tf.constant(RNG.normal(size=(B, D)), tf.float32),
        tf.constant(RNG.normal(size=(B, T, D)), tf.float32), tf.constant([2, 0, 9])))


@pytest.mark.parametrize("text, layer_class, fmt, expected", [
    ("fm {}", FM, "stacked", {"reduce_sum": True}),
    ("fm { reduce_sum: false }", FM, "stacked", {"reduce_sum": False}),
    ("wide {}", Wide, "stacked", {"use_bias": True}),
    ("dot_interaction { self_interaction: true }", DotInteraction, "stacked",
     {"self_interaction": True}),
])
def test_builders(text, layer_class, fmt, expected):
    spec, layer = build(text)
    assert isinstance(layer, layer_class) and layer.name == "b" and spec.input_format == fmt
    assert {k: layer.get_config()[k] for k in expected} == expected


def test_bst_builder_defaults_and_values():
    spec, layer = build("bst {}")
    assert spec.input_format == "sequence" and isinstance(layer.layer, BST)
    config = layer.layer.get_config()
    assert (config["num_layers"], config["num_heads"], config["intermediate_dim"], config["pooling"],
            config["dropout_rate"], config["activation"]) == (1, 4, None, "flatten",
                                                               pytest.approx(0.1), "leaky_relu")
    _, layer = build("bst { num_layers: 2 num_heads: 2 intermediate_dim: 16 pooling: POOLING_TARGET "
                     "use_position: false }")
    config = layer.layer.get_config()
    assert (config["num_layers"], config["num_heads"], config["intermediate_dim"], config["pooling"],
            config["use_position"]) == (2, 2, 16, "target", False)


@pytest.mark.parametrize("text, path, message", [
    ("bst { num_heads: 0 }", PATH + ".bst", "num_heads"),
    ("bst { pooling: POOLING_UNSPECIFIED }", PATH + ".bst.pooling", "POOLING_FLATTEN"),
    ("custom {}", PATH + ".custom.class_name", "needs class_name"),
])
def test_bad_parameters(text, path, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(text)
    assert info.value.path == path


def test_deepfm_and_dlrm_backbones_compute_their_formulas():
    groups = {"all": dense_group([D] * F), "wide": dense_group([1] * F), "dense": dense_group([D])}
    backbone, out = run_backbone('''
        blocks { name: "linear" inputs { feature_group: "wide" } wide {} }
        blocks { name: "fm" inputs { feature_group: "all" } fm {} }
        blocks { name: "dot" inputs { feature_group: "dense" } inputs { feature_group: "all" }
                 dot_interaction {} }''', groups)
    v = groups["all"].stacked.numpy()
    pairs = sum(np.sum(v[:, i] * v[:, j], -1) for i in range(F) for j in range(i))
    np.testing.assert_allclose(out["fm"].numpy()[:, 0], pairs, rtol=1e-5)
    np.testing.assert_allclose(out["linear"].numpy()[:, 0], groups["wide"].concat.numpy().sum(-1))
    assert out["dot"].shape == (B, (F + 1) * F // 2)


def test_fm_on_a_group_of_mixed_widths_names_the_block():
    with pytest.raises(ConfigError, match=r"block 'b': feature group 'g' has no stacked form") as info:
        run_backbone('blocks { name: "b" inputs { feature_group: "g" } fm {} }',
                     {"g": dense_group([D, D + 1])})
    assert info.value.path == PATH + ".inputs[0]"


def test_wide_and_dot_interaction_check_widths_when_compiled():
    with pytest.raises(ConfigError, match=r"block 'b': wide reads one-dimensional features, but "
                       r"this group's are 6 wide") as info:
        run_backbone('blocks { name: "b" inputs { feature_group: "g" } wide {} }',
                     {"g": dense_group([D, D])})
    assert info.value.path == PATH + ".inputs[0]"
    with pytest.raises(ConfigError, match="dot_interaction needs vectors of one width") as info:
        run_backbone('blocks { name: "b" inputs { feature_group: "g" } inputs { feature_group: "h" } '
                     'dot_interaction {} }', {"g": dense_group([D, D]), "h": dense_group([2, 2])})
    assert info.value.path == PATH + ".inputs[1]"


def test_bst_on_a_non_sequence_group_names_the_block():
    with pytest.raises(ConfigError, match=r"block 'b': feature group 'g' has no sequence form"):
        run_backbone('blocks { name: "b" inputs { feature_group: "g" } bst {} }',
                     {"g": dense_group([D, D])})


def test_bst_block_runs_on_a_sequence_group_without_nan():
    _, out = run_backbone('blocks { name: "b" inputs { feature_group: "g" } bst { num_heads: 2 } }',
                          {"g": sequence_group()})
    assert out["b"].shape == (B, (T + 1) * D) and np.all(np.isfinite(out["b"].numpy()))


def test_bst_without_a_query_is_a_config_error():
    group = sequence_group()
    group = GroupOutput(None, None, SequenceInput(None, group.sequence.keys, group.sequence.lengths))
    with pytest.raises(ConfigError, match="block 'b': bst needs a query"):
        run_backbone('blocks { name: "b" inputs { feature_group: "g" } bst {} }', {"g": group})


def test_custom_block_builds_a_registered_user_layer():
    import_modules(["samples.custom_layers.gates"])
    from samples.custom_layers.gates import GatedDense
    for name in ("my_layers>GatedDense", "GatedDense"):
        _, layer = build(f'custom {{ class_name: "{name}" params {{ fields {{ key: "units" '
                         'value { number_value: 3 } } fields { key: "activation" '
                         'value { string_value: "relu" } } } }')
        assert isinstance(layer, GatedDense) and layer.name == "b"
        assert layer.units == 3 and isinstance(layer.units, int)
    _, out = run_backbone('blocks { name: "b" inputs { feature_group: "g" } custom { '
                          'class_name: "GatedDense" params { fields { key: "units" value { '
                          'number_value: 2 } } } } }', {"g": dense_group([D, D])})
    assert out["b"].shape == (B, 2)


def test_custom_block_errors():
    import_modules(["samples.custom_layers.gates"])
    with pytest.raises(ConfigError) as info:
        build('custom { class_name: "Nope" }')
    message = str(info.value)
    assert info.value.path == PATH + ".custom.class_name"
    assert "no layer class is registered as 'Nope'" in message
    assert "my_layers>GatedDense" in message and "--import_modules" in message
    assert "easyrank>" not in message
    with pytest.raises(ConfigError, match=r"GatedDense\(\*\*params\) failed: .*units") as info:
        build('custom { class_name: "GatedDense" params { fields { key: "units" '
              'value { string_value: "three" } } } }')
    assert info.value.path == PATH + ".custom.params"
    with pytest.raises(ConfigError, match="may not set name"):
        build('custom { class_name: "GatedDense" params { fields { key: "name" '
              'value { string_value: "x" } } } }')


def test_import_modules_errors():
    with pytest.raises(ConfigError, match="cannot import module 'no_such_pkg.layers'") as info:
        import_modules(["easyrank", "no_such_pkg.layers"])
    assert info.value.path == "import_modules[1]"
    with pytest.raises(ConfigError, match="is not a module name"):
        import_modules(["samples/custom_layers/gates.py"])
