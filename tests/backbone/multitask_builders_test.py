"""Builder and wiring tests for the mmoe, poso and poso_mmoe blocks."""

import easyrank  # noqa: F401  (before tensorflow)

# isort: split

import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from google.protobuf import text_format

from easyrank.backbone import registry
from easyrank.backbone.compiler import BlockOutputs, compile_backbone, compile_input
from easyrank.backbone.graph import gather
from easyrank.errors import ConfigError
from easyrank.features.groups import GroupOutput
from easyrank.layers.mmoe import MMoE
from easyrank.layers.poso import POSOMLP, POSOMMoE
from easyrank.protos import block_pb2

PATH = "model_config.backbone.blocks[0]"


def build(text):
    block = text_format.Parse('name: "b" inputs { feature_group: "g" } ' + text, block_pb2.Block())
    spec = registry.lookup(block, PATH)
    context = registry.BuildContext(name=block.name, path=PATH)
    return spec.builder(getattr(block, block.WhichOneof("layer")), context)


def backbone(text, **widths):
    """The compiled Backbone of `text` on concat-only groups of `widths`."""
    shapes = {name: GroupOutput((w,), None) for name, w in widths.items()}
    return compile_backbone(text_format.Parse(text, block_pb2.Backbone()), shapes)


def groups(**widths):
    rng = np.random.default_rng(0)
    return {name: GroupOutput(tf.constant(rng.normal(size=(3, w)), tf.float32), None)
            for name, w in widths.items()}


class MultitaskBuildersTest(tf.test.TestCase, parameterized.TestCase):

    def test_mmoe_defaults(self):
        layer = build('mmoe { expert_units: [8] task_names: ["a", "b"] }')
        self.assertIsInstance(layer, MMoE)
        config = layer.get_config()
        self.assertEqual((config["num_experts"], config["num_tasks"]), (4, 2))
        self.assertEqual((config["expert_units"], config["gate_units"]), ([8], []))
        self.assertEqual((config["expert_activation"], config["dropout_rate"]), ("relu", 0.0))
        self.assertEqual(config["name"], "b")

    def test_mmoe_non_defaults(self):
        config = build('mmoe { num_experts: 1 expert_units: [16, 4] num_tasks: 3 gate_units: [5] '
                       'expert_activation: "gelu" gate_activation: "tanh" dropout_rate: 0.25 }'
                       ).get_config()
        self.assertEqual((config["num_experts"], config["num_tasks"]), (1, 3))
        self.assertEqual((config["expert_units"], config["gate_units"]), ([16, 4], [5]))
        self.assertEqual((config["expert_activation"], config["gate_activation"]), ("gelu", "tanh"))
        self.assertEqual(config["dropout_rate"], 0.25)

    def test_poso_and_poso_mmoe(self):
        layer = build('poso { hidden_units: [8, 4] gate_units: [3] gate_scale: 1.5 }')
        self.assertIsInstance(layer, POSOMLP)
        config = layer.get_config()
        self.assertEqual((config["hidden_units"], config["gate_units"]), ([8, 4], [3]))
        self.assertEqual(config["gate_scale"], 1.5)
        self.assertEqual(build("poso { hidden_units: [8] }").get_config()["gate_scale"], 2.0)
        layer = build('poso_mmoe { num_experts: 3 expert_units: [4] num_tasks: 2 '
                      'poso_gate_units: [2] }')
        self.assertIsInstance(layer, POSOMMoE)
        config = layer.get_config()
        self.assertEqual((config["num_experts"], config["poso_gate_units"]), (3, [2]))
        self.assertEqual(config["gate_scale"], 2.0)

    @parameterized.named_parameters(
        ("no_units", 'mmoe { num_tasks: 2 }', ".mmoe.expert_units", "expert_units"),
        ("no_tasks", 'mmoe { expert_units: [4] }', ".mmoe.num_tasks", "num_tasks or task_names"),
        ("disagree", 'mmoe { expert_units: [4] num_tasks: 3 task_names: ["a", "b"] }',
         ".mmoe.num_tasks", "agree"),
        ("dup_names", 'mmoe { expert_units: [4] task_names: ["a", "a"] }', ".mmoe.task_names",
         "unique"),
        ("zero_experts", 'mmoe { num_experts: 0 expert_units: [4] num_tasks: 2 }', ".mmoe",
         "num_experts"),
        ("bad_dropout", 'mmoe { expert_units: [4] num_tasks: 2 dropout_rate: 1.5 }', ".mmoe",
         "dropout_rate"),
        ("poso_no_units", "poso {}", ".poso.hidden_units", "hidden_units"),
        ("poso_scale", "poso { hidden_units: [4] gate_scale: 0 }", ".poso", "gate_scale"),
        ("poso_mmoe_units", "poso_mmoe { num_tasks: 1 }", ".poso_mmoe.expert_units",
         "expert_units"),
    )
    def test_bad_params(self, text, path, fragment):
        with self.assertRaisesRegex(ConfigError, fragment) as caught:
            build(text)
        self.assertEqual(caught.exception.path, PATH + path)

    def test_mmoe_separate_gate_input_and_output_name(self):
        data = groups(x=5, y=2, z=6)
        net, produced = backbone('blocks { name: "m" inputs { feature_group: "x" } '
                                 '  inputs { feature_group: "y" } inputs { feature_group: "z" } '
                                 '  mmoe { num_experts: 3 expert_units: [4] task_names: ["a", "b"] '
                                 '         num_gate_inputs: 1 } }', x=5, y=2, z=6)
        outputs = net(data)["m"]
        layer = net.block_layers["m"]
        experts_in = tf.concat([data["x"].concat, data["y"].concat], axis=-1)
        expected = layer((experts_in, data["z"].concat))
        self.assertEqual(len(outputs), 2)
        self.assertAllClose(outputs[1], expected[1])
        # The gate reads z (6 wide), the experts x and y (7 wide).
        self.assertEqual(layer.experts.kernels[0].shape, (3, 7, 4))
        self.assertEqual(layer.gates.kernels[0].shape, (2, 6, 3))
        self.assertEqual(produced, {"m": BlockOutputs(2, ("a", "b"))})
        source = text_format.Parse('block: "m" output_name: "b"', block_pb2.BlockInput())
        ref, _ = compile_input(source, {}, produced)
        self.assertAllClose(gather(ref, data, {"m": outputs}), outputs[1])

    def test_output_name_errors(self):
        produced = {"m": BlockOutputs(2, ("a", "b")), "p": BlockOutputs(), "k": BlockOutputs(2)}
        unknown = text_format.Parse('block: "m" output_name: "c"', block_pb2.BlockInput())
        with self.assertRaisesRegex(ConfigError, "its outputs are a, b") as caught:
            compile_input(unknown, {}, produced, path="t.input")
        self.assertEqual(caught.exception.path, "t.input.output_name")
        for name in ("p", "k"):  # one output; several outputs without names
            unnamed = text_format.Parse(f'block: "{name}" output_name: "a"', block_pb2.BlockInput())
            with self.assertRaisesRegex(ConfigError, "no named outputs"):
                compile_input(unnamed, {}, produced)
        single = text_format.Parse('block: "p" output_index: 0', block_pb2.BlockInput())
        with self.assertRaisesRegex(ConfigError, "'p' has one output"):
            compile_input(single, {}, produced)

    def test_poso_reads_last_input_as_x_pc(self):
        data = groups(x=5, y=2, pc=2)
        net, _ = backbone('blocks { name: "p" inputs { feature_group: "x" } '
                          '  inputs { feature_group: "y" } inputs { feature_group: "pc" } '
                          '  poso { hidden_units: [4, 3] } }', x=5, y=2, pc=2)
        out = net(data)["p"]
        layer = net.block_layers["p"]
        x = tf.concat([data["x"].concat, data["y"].concat], axis=-1)
        self.assertAllClose(out, layer((x, data["pc"].concat)))
        self.assertEqual(layer.get_weights()[0].shape, (7, 4))  # the first gated Dense kernel

    def test_poso_mmoe_inputs(self):
        data = groups(x=5, g=3, pc=2)
        net, _ = backbone('blocks { name: "p" inputs { feature_group: "x" } '
                          '  inputs { feature_group: "g" } inputs { feature_group: "pc" } '
                          '  poso_mmoe { num_experts: 2 expert_units: [4] task_names: ["a", "b"] '
                          '  num_gate_inputs: 1 } }', x=5, g=3, pc=2)
        out = net(data)["p"]
        layer = net.block_layers["p"]
        expected = layer((data["x"].concat, data["g"].concat, data["pc"].concat))
        self.assertAllClose(out[0], expected[0])
        self.assertEqual(layer.gates.kernels[0].shape, (2, 3, 2))

    @parameterized.named_parameters(
        ("poso_one_input", 'poso { hidden_units: [4] }', "at least 2"),
        ("mmoe_all_gates", 'mmoe { expert_units: [4] num_tasks: 2 num_gate_inputs: 1 }',
         "at least 2"),
    )
    def test_too_few_inputs(self, text, fragment):
        with self.assertRaisesRegex(ConfigError, fragment) as caught:
            backbone('blocks { name: "b" inputs { feature_group: "x" } ' + text + " }", x=3)
        self.assertEqual(caught.exception.path, "model_config.backbone.blocks[0].inputs")
