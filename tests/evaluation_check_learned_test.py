"""Before a run exports: a task that predicts one constant, or was evaluated on no rows, is a
data error (never exit 0 with a model that learned nothing)."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
from google.protobuf import text_format

from easyrank.errors import DataError
from easyrank.evaluation.evaluator import check_learned
from easyrank.protos import model_pb2


def task(text):
    return text_format.Parse(text, model_pb2.TaskConfig())


CTR = task('name: "ctr" label: "click" loss: BINARY_CROSS_ENTROPY')
MASKED = task('name: "cvr" label: "buy" loss: BINARY_CROSS_ENTROPY mask_field: "click"')


def test_a_model_that_varies_passes():
    check_learned([CTR], {"ctr/probs": np.array([0.1, 0.2, 0.1]), "click": np.array([0, 1, 0])})
    check_learned([CTR], {"ctr/probs": np.array([0.5]), "click": np.array([1])})  # one row


def test_constant_predictions_are_refused():
    with pytest.raises(DataError, match=r"task 'ctr' predicts the same value \(0\) for all 3 "
                                        r"evaluation rows: the model learned nothing"):
        check_learned([CTR], {"ctr/probs": np.zeros(3, np.float32), "click": np.array([0, 1, 0])})


def test_constant_multi_class_predictions_are_refused():
    probs = np.tile([[0.2, 0.8]], (4, 1))
    with pytest.raises(DataError, match="predicts the same value"):
        check_learned([CTR], {"ctr/probs": probs, "click": np.array([0, 1, 0, 1])})
    probs[0] = [0.3, 0.7]
    check_learned([CTR], {"ctr/probs": probs, "click": np.array([0, 1, 0, 1])})


def test_a_task_with_no_rows_in_its_mask_is_refused():
    collected = {"ctr/probs": np.array([0.1, 0.2]), "click": np.zeros(2),
                 "cvr/probs": np.array([0.3, 0.4]), "buy": np.zeros(2)}
    with pytest.raises(DataError, match="task 'cvr' was evaluated on no rows"):
        check_learned([CTR, MASKED], collected)
    collected["click"] = np.array([1.0, 1.0])
    check_learned([CTR, MASKED], collected)
