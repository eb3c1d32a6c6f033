"""Builder tests for dcn_mix, cross, mask_net, senet and bilinear blocks."""

import easyrank  # noqa: F401  (before tensorflow)

# isort: split

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from google.protobuf import text_format

from easyrank.backbone import registry
from easyrank.backbone.compiler import compile_backbone
from easyrank.errors import ConfigError
from easyrank.features.groups import GroupOutput, shapes_of
from easyrank.layers.bilinear import Bilinear
from easyrank.layers.cross import Cross
from easyrank.layers.dcn_mix import DCNMix
from easyrank.layers.mask_net import MaskNet
from easyrank.layers.senet import SENet
from easyrank.protos import block_pb2

PATH = "model_config.backbone.blocks[0]"


def build(text):
    block = text_format.Parse('name: "b" inputs { feature_group: "g" } ' + text, block_pb2.Block())
    spec = registry.lookup(block, PATH)
    context = registry.BuildContext(name=block.name, path=PATH)
    return spec.builder(getattr(block, block.WhichOneof("layer")), context)


class InteractionBuildersTest(tf.test.TestCase, parameterized.TestCase):

    def test_dcn_mix_defaults(self):
        layer = build("dcn_mix {}")
        self.assertIsInstance(layer, DCNMix)
        config = layer.get_config()
        self.assertEqual((config["num_layers"], config["num_experts"], config["projection_dim"]),
                         (2, 4, 32))
        self.assertFalse(config["use_low_rank_mixing"])
        self.assertIsNone(config["activation"])
        self.assertEqual(config["name"], "b")

    def test_dcn_mix_non_defaults(self):
        config = build('dcn_mix { num_layers: 3 num_experts: 2 projection_dim: 8 '
                       'use_low_rank_mixing: true activation: "tanh" }').get_config()
        self.assertEqual((config["num_layers"], config["num_experts"], config["projection_dim"]),
                         (3, 2, 8))
        self.assertTrue(config["use_low_rank_mixing"])
        self.assertEqual(config["activation"], "tanh")

    def test_cross_full_and_low_rank(self):
        layer = build("cross {}")
        self.assertIsInstance(layer, Cross)
        self.assertEqual(layer.get_config()["num_layers"], 2)
        self.assertIsNone(layer.get_config()["projection_dim"])
        config = build("cross { num_layers: 3 projection_dim: 16 diag_scale: 0.5 "
                       "use_bias: false }").get_config()
        self.assertEqual((config["num_layers"], config["projection_dim"]), (3, 16))
        self.assertEqual((config["diag_scale"], config["use_bias"]), (0.5, False))

    def test_mask_net(self):
        layer = build("mask_net { output_size: 16 reduction_factor: 2 parallel: true "
                      "input_layer_norm: true hidden_units: [32, 8] dropout_rate: 0.1 }")
        self.assertIsInstance(layer, MaskNet)
        config = layer.get_config()
        self.assertEqual((config["num_blocks"], config["output_size"]), (3, 16))
        self.assertEqual(config["reduction_factor"], 2.0)
        self.assertIsNone(config["aggregation_size"])
        self.assertTrue(config["parallel"])
        self.assertTrue(config["input_layer_norm"])
        self.assertEqual(list(config["hidden_units"]), [32, 8])
        self.assertAllClose(config["dropout_rate"], 0.1)
        out = layer(tf.ones([2, 12]))
        self.assertEqual(out.shape, (2, 8))

    def test_senet(self):
        layer = build("senet { reduction_ratio: 2 squeeze: SQUEEZE_MAX "
                      "weight_axis: WEIGHT_AXIS_EMBEDDING }")
        self.assertIsInstance(layer, SENet)
        config = layer.get_config()
        self.assertEqual((config["reduction_ratio"], config["squeeze"], config["weight_axis"]),
                         (2, "max", "embedding"))
        config = build("senet {}").get_config()
        self.assertEqual((config["reduction_ratio"], config["squeeze"], config["weight_axis"]),
                         (3, "mean", "field"))

    @parameterized.named_parameters(
        ("all", "BILINEAR_TYPE_FIELD_ALL", "field_all"),
        ("each", "BILINEAR_TYPE_FIELD_EACH", "field_each"),
        ("interaction", "BILINEAR_TYPE_FIELD_INTERACTION", "field_interaction"))
    def test_bilinear(self, enum_name, expected):
        layer = build(f"bilinear {{ bilinear_type: {enum_name} flatten: false }}")
        self.assertIsInstance(layer, Bilinear)
        self.assertEqual(layer.get_config()["bilinear_type"], expected)
        self.assertFalse(layer.get_config()["flatten"])

    @parameterized.named_parameters(
        ("dcn_mix_rank", "dcn_mix { projection_dim: 0 }", ".dcn_mix.projection_dim",
         "projection_dim=0"),
        ("dcn_mix_layers", "dcn_mix { num_layers: 0 }", ".dcn_mix.num_layers", "num_layers"),
        ("cross_layers", "cross { num_layers: -1 }", ".cross.num_layers", "num_layers"),
        ("cross_diag", "cross { diag_scale: -1 }", ".cross.diag_scale", "diag_scale"),
        ("mask_both", "mask_net { output_size: 4 aggregation_size: 8 reduction_factor: 1 }",
         ".mask_net.aggregation_size", "exactly one"),
        ("mask_neither", "mask_net { output_size: 4 }", ".mask_net.aggregation_size",
         "exactly one"),
        ("mask_output", "mask_net { aggregation_size: 8 }", ".mask_net.output_size",
         "output_size"),
        ("mask_dropout", "mask_net { output_size: 4 aggregation_size: 8 dropout_rate: 0.5 }",
         ".mask_net.dropout_rate", "hidden_units"),
        ("senet_ratio", "senet { reduction_ratio: 0 }", ".senet.reduction_ratio",
         "reduction_ratio"),
        ("senet_squeeze", "senet { squeeze: SQUEEZE_UNSPECIFIED }", ".senet.squeeze",
         "SQUEEZE_MEAN"),
        ("bilinear_type", "bilinear { bilinear_type: BILINEAR_TYPE_UNSPECIFIED }",
         ".bilinear.bilinear_type", "BILINEAR_TYPE_FIELD_ALL"))
    def test_bad_params(self, text, field, fragment):
        with self.assertRaisesRegex(ConfigError, fragment) as raised:
            build(text)
        self.assertEqual(raised.exception.path, PATH + field)

    def test_fibinet_graph_keeps_senet_output_rank_3(self):
        backbone = text_format.Parse('''
            blocks { name: "se" inputs { feature_group: "g" } senet { reduction_ratio: 2 } }
            blocks { name: "bi_se" inputs { block: "se" }
                     bilinear { bilinear_type: BILINEAR_TYPE_FIELD_ALL } }
            blocks { name: "bi" inputs { feature_group: "g" } inputs { feature_group: "g" }
                     bilinear { flatten: false } }
            blocks { name: "deep" inputs { block: "bi_se" } inputs { feature_group: "g" }
                     mlp { hidden_units: [4] } }''', block_pb2.Backbone())
        stacked = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 3)), tf.float32)
        groups = {"g": GroupOutput(tf.reshape(stacked, [2, 12]), stacked)}
        outputs = compile_backbone(backbone, shapes_of(groups))[0](groups)
        self.assertEqual(outputs["se"].shape, (2, 4, 3))
        self.assertEqual(outputs["bi_se"].shape, (2, 6 * 3))
        self.assertEqual(outputs["bi"].shape, (2, 28, 3))  # two inputs: 8 fields, 28 pairs
        self.assertEqual(outputs["deep"].shape, (2, 4))


if __name__ == "__main__":
    tf.test.main()
