"""Exit codes mean what docs/errors.md says (issue 24): an error raised by the input pipeline
is a data error (3); the same TensorFlow error raised by model code is a bug (1), reported
in one paragraph that names a log file holding the traceback."""

import json
import os
import re
import subprocess
import sys

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import pytest
import tensorflow as tf

from easyrank.console import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


def _error(fn):
    try:
        fn()
    except tf.errors.OpError as e:
        return e
    raise AssertionError("no error")


def test_input_pipeline_error_is_data_and_model_error_is_a_bug():
    numbers = tf.data.Dataset.from_tensor_slices(["1", "x"]).map(tf.strings.to_number)

    @tf.function
    def read_all(iterator):
        return next(iterator) + next(iterator)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def model_code(x):  # the shape is known only at run time, as a batch's is
        return tf.reshape(x, [-1, 2])

    data = _error(lambda: read_all(iter(numbers)))
    eager_data = _error(lambda: list(numbers))
    bug = _error(lambda: model_code(tf.ones([3])))
    assert all(isinstance(e, tf.errors.InvalidArgumentError) for e in (data, eager_data, bug))
    assert "StringToNumberOp could not correctly convert string: x" in app.data_error_message(data)
    assert "could not correctly convert string: x" in app.data_error_message(eager_data)
    assert app.data_error_message(bug) is None
    assert app.data_error_message(tf.errors.DataLossError(None, None, "corrupted record at 12")) is not None


def test_bug_message_names_a_log_with_the_traceback():
    try:
        raise ValueError("shape mismatch in my layer")
    except ValueError as e:
        import traceback
        message = app.bug_message(e, traceback.format_exc())
    log = re.search(r"The traceback is in (\S+);", message).group(1)
    try:
        assert message.startswith("Error: ValueError: shape mismatch in my layer.")
        text = open(log).read()
        assert "Traceback (most recent call last)" in text and "shape mismatch in my layer" in text
    finally:
        os.remove(log)


BUGGY_LAYER = '''
import tensorflow as tf
import tf_keras


@tf_keras.saving.register_keras_serializable(package="bug_layers")
class ReshapeBug(tf_keras.layers.Layer):
    """Reshapes [B, D] to [-1, 7]: builds, then fails on any batch whose size is not a multiple of 7."""

    def call(self, inputs):
        return tf.reshape(inputs, [-1, 7])

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([None, 7])
'''


@pytest.mark.slow
def test_shape_bug_in_a_layer_exits_1_with_the_traceback_in_a_log(tmp_path):
    (tmp_path / "bug_layers_mod.py").write_text(BUGGY_LAYER)
    config = open(os.path.join(ROOT, "samples", "custom_layers", "census_gated.config")).read()
    config = config.replace('import_modules: "samples.custom_layers.gates"', 'import_modules: "bug_layers_mod"')
    config = re.sub(r'class_name: "my_layers>GatedDense"\s*params .*?\} \} \}',
                    'class_name: "bug_layers>ReshapeBug"', config, flags=re.S)
    assert "bug_layers>ReshapeBug" in config and "class_name: \"my_layers>GatedDense" not in config
    (tmp_path / "bug.config").write_text(config)
    edits = {"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 32,
             "train_config.num_steps": 2}
    out = subprocess.run(
        [sys.executable, "-m", "easyrank.train", "--pipeline_config_path", str(tmp_path / "bug.config"),
         "--model_dir", str(tmp_path / "m"), "--edit_config_json", json.dumps(edits),
         "--import_modules", "bug_layers_mod"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=f"{ROOT}:{tmp_path}"))
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    message = out.stderr.strip().splitlines()[-1]
    assert message.startswith("Error: InvalidArgumentError: ") and "Data error" not in message, message
    assert "requested shape requires a multiple of 7" in message, message
    log = re.search(r"The traceback is in (\S+);", message).group(1)
    text = open(log).read()
    os.remove(log)
    assert "Traceback (most recent call last)" in text and re.search(r"easyrank[./]train", text)
