"""Checkpoints written before the config compile step (issue 12, item 3) still restore.

tests/data/layout_checkpoint/ckpt-3 was trained for 3 steps by the code at commit 382724b,
when the Keras objects held proto messages; expected.json holds that code's predictions on
inputs.json. The current model must restore every value of it, name for name, and predict
the same numbers.
"""

import easyrank  # noqa: F401

# isort: split
import json
import os

import numpy as np
import tensorflow as tf

from easyrank import config as config_lib
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
    model, checkpoint = create()
    status = checkpoint.restore(CHECKPOINT)
    status.assert_consumed()  # every value of the old checkpoint found a variable
    status.assert_existing_objects_matched()  # every variable of the new model got a value
    assert int(model.optimizer.iterations.numpy()) == 3

    # The same names, shapes and dtypes: a checkpoint written now has exactly the old keys.
    written = checkpoint.write(str(tmp_path / "new"))
    old = dict(tf.train.list_variables(CHECKPOINT))
    new = dict(tf.train.list_variables(written))
    assert sorted(new) == sorted(old)
    assert new == old
    reader = tf.train.load_checkpoint(CHECKPOINT)
    for name in old:
        if name != "_CHECKPOINTABLE_OBJECT_GRAPH":
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
