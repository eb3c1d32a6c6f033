"""The config compiler: plain wiring in the Keras objects, every config error before any call."""

import easyrank  # noqa: F401

# isort: split
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import message as proto_message
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.backbone import InputRef
from easyrank.errors import ConfigError
from easyrank.models import build_model, compile_model
from easyrank.models.heads import TaskSpec
from easyrank.protos import model_pb2

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYOUT = os.path.join(HERE, "data", "layout_checkpoint", "layout.config")
BASE = os.path.join(HERE, "configs", "base.config")


def reachable(value, seen):
    """Every object reachable from `value` through attributes, containers and dataclasses."""
    if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None))):
        return
    seen[id(value)] = value
    if isinstance(value, dict):
        children = list(value.keys()) + list(value.values())
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = list(value)
    elif hasattr(value, "__dict__") and not isinstance(value, (type, tf.Tensor, tf.Variable)):
        children = list(vars(value).values())
    else:
        children = []
    for child in children:
        reachable(child, seen)


def test_keras_objects_hold_no_protos():
    model = build_model(config_lib.load_config(LAYOUT))
    seen = {}
    for layer in [model, model.feature_groups, model.backbone, *model.heads]:
        reachable(layer, seen)
    messages = [type(v).__name__ for v in seen.values() if isinstance(v, proto_message.Message)]
    assert not messages
    assert model.tasks == (
        TaskSpec("like", "label", "binary_cross_entropy", 1.0, InputRef("gated")),
        TaskSpec("rating", "rating", "mean_squared_error", 0.5, InputRef("bottom", index=1)))
    assert [n.name for n in model.backbone._nodes][-2:] == ["bottom", "gated"]


def edited(**json_edits):
    return config_lib.load_config(BASE, edit_config_json=json_edits)


def compile_error(config):
    """The ConfigError of compiling `config`; no layer is called (variables are not created)."""
    with pytest.raises(ConfigError) as caught:
        compile_model(config)
    return caught.value


def test_shape_errors_are_raised_by_the_compiler():
    config = edited()
    config.model_config.backbone.blocks[0].ClearField("mlp")
    config.model_config.backbone.blocks[0].senet.reduction_ratio = 1  # needs a stacked group
    error = compile_error(config)  # age is 1 wide, the embeddings 4
    assert "feature group 'all' has no stacked form" in error.message
    assert error.path == "model_config.backbone.blocks[0].inputs[0]"


def test_task_reading_a_multi_output_block_by_default_must_pick_one():
    config = edited()
    block = config.model_config.backbone.blocks[0]
    block.ClearField("mlp")
    text_format.Parse('expert_units: [4] task_names: ["income", "other"]', block.mmoe)
    error = compile_error(config)
    assert "task 'income' reads block 'deep', which has one output per task" in error.message
    assert error.path == "model_config.tasks[0].input"
    config.model_config.tasks[0].input.block = "deep"
    config.model_config.tasks[0].input.output_index = 2
    error = compile_error(config)
    assert (error.message, error.path) == ("output_index 2 out of range: 'deep' has 2 outputs.",
                                           "model_config.tasks[0].input.output_index")
    config.model_config.tasks[0].input.output_name = "income"
    config.model_config.tasks[0].input.ClearField("output_index")
    model = build_model(config)
    assert model.tasks[0].input == InputRef("deep", index=0)


def test_task_errors():
    config = edited()
    config.model_config.tasks[0].loss = model_pb2.TaskConfig.LOSS_UNSPECIFIED
    assert compile_error(config).path == "model_config.tasks[0].loss"
    config = edited()
    config.model_config.tasks[0].tower.dropout_rate = 0.5
    assert compile_error(config).path == "model_config.tasks[0].tower.hidden_units"
    config.model_config.tasks[0].tower.hidden_units.append(0)
    assert compile_error(config).path == "model_config.tasks[0].tower"


@pytest.mark.parametrize("edits, zeros", [
    ({}, False),
    ({"train_config.optimizer.ftrl.learning_rate": 0.1}, True),
    ({"train_config.embedding_optimizer.ftrl.learning_rate": 0.1}, True),
    ({"train_config.optimizer.ftrl.learning_rate": 0.1,
      "train_config.embedding_optimizer.use_dense_optimizer": True}, True),
    ({"train_config.optimizer.ftrl.learning_rate": 0.1,
      "train_config.embedding_optimizer.lazy_adam.learning_rate": 0.1}, False),
    ({"train_config.embedding_optimizer.adagrad.learning_rate": 0.1}, False),
])
def test_tables_updated_by_ftrl_start_at_zero_unless_their_feature_sets_an_initializer(edits, zeros):
    config = edited(**edits, **{"feature_configs[2].id_feature.embedding.init_stddev": 0.5})
    model = build_model(config)
    education, sex = model.feature_groups.tables["education"].numpy(), model.feature_groups.tables["sex"].numpy()
    assert np.all(education == 0) == zeros
    assert np.all(np.abs(education) <= 0.05) and np.abs(sex).max() > 0.05  # sex: its own init_stddev
