"""Checkpoints written before the config compile step (issue 12, item 3) still restore.

tests/data/layout_checkpoint/ckpt-3 was trained for 3 steps by the code at commit 382724b,
when the Keras objects held proto messages; expected.json holds that code's predictions on
inputs.json. The current model must restore every model value of it, name for name, and
predict the same numbers. The optimizer's state is laid out differently since issue 13
(dense and embedding optimizers, optimizer/dense/... and optimizer/embedding/...): resuming
such a checkpoint stops with a ConfigError that points to warm starting from it.
"""

import easyrank  # noqa: F401

# isort: split
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.training import model_state, strategies

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                    "layout_checkpoint")
CHECKPOINT = os.path.join(HERE, "ckpt-3")


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def create():
    config = config_lib.load_config(os.path.join(HERE, "layout.config"))
    return model_state.create_model(config, strategies.build_strategy(config.train_config))


def test_old_checkpoint_restores_every_value_and_predicts_the_same(tmp_path):
    model, _ = create()
    tf.train.Checkpoint(model=model).restore(CHECKPOINT).expect_partial()

    # The model's weights (the model tracks its optimizer too: that part is left out) have exactly
    # the old names, shapes and values in a checkpoint written now, so each was restored.
    def weights(path):
        return {k: v for k, v in tf.train.list_variables(path)
                if k.startswith("model/") and not k.startswith("model/optimizer/")}

    written = tf.train.Checkpoint(model=model).write(str(tmp_path / "new"))
    old, new = weights(CHECKPOINT), weights(written)
    assert len(old) > 40 and new == old
    reader = tf.train.load_checkpoint(CHECKPOINT)
    for name in old:
        np.testing.assert_array_equal(tf.train.load_checkpoint(written).get_tensor(name),
                                      reader.get_tensor(name), err_msg=name)

    inputs = load("inputs.json")
    features = {name: tf.constant(inputs[name], dtype) for name, dtype, _ in model.input_fields}
    outputs = model(features, training=False)
    expected = load("expected.json")
    assert sorted(outputs) == sorted(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(outputs[key].numpy(), values, rtol=1e-5, atol=1e-6, err_msg=key)
    # The two tasks read different outputs and the rows differ: the numbers are not a constant.
    assert np.ptp(expected["like/probs"]) > 1e-3 and np.ptp(expected["rating/predictions"]) > 1e-3


def test_resuming_an_old_checkpoint_is_a_config_error_pointing_to_warm_start():
    _, checkpoint = create()
    with pytest.raises(ConfigError, match="fine_tune_checkpoint"):
        model_state.restore(checkpoint, CHECKPOINT)
