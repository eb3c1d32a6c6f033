"""The one-paragraph data error keeps TensorFlow's cause and drops its Python stack.

DataLossError is a data error wherever it is raised (an InvalidArgumentError only when the
input pipeline raised it: tests/exit_codes_test.py)."""

import easyrank  # noqa: F401

# isort: split
import tensorflow as tf

from easyrank.console import app

# TF 2.21's layout: a blank line between the frames of the stack, the cause after it.
TF_221 = """Graph execution error:

Detected at node cond/Assert defined at (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main

  File "<frozen runpy>", line 88, in _run_code

  File "/x/easyrank/train.py", line 37, in <module>

  File "/x/easyrank/training/loop.py", line 101, in fit

{cause}
\t [[{{{{node cond/Assert}}}}]] [Op:__inference_train_function_123]"""


def test_stack_with_blank_lines_between_frames_is_dropped_and_the_cause_kept():
    cause = "Checksum does not match: stored 1, expected 2 in train.tfrecord"
    error = tf.errors.DataLossError(None, None, TF_221.format(cause=cause))
    assert app.data_error_message(error) == cause


def test_old_layout_without_blank_lines_still_works():
    text = TF_221.format(cause="the cause").replace("\n\n  File", "\n  File")
    error = tf.errors.DataLossError(None, None, text)
    assert app.data_error_message(error) == "the cause"
