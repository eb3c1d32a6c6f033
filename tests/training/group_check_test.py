"""A ranking loss whose batches hold no usable group is a data error before training."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.errors import DataError
from easyrank.protos import model_pb2
from easyrank.training import group_check, loop

CONFIG = """
train_input_path: "{data}"
eval_input_path: "{data}"
data_config {{
  input_fields {{ name: "query" type: STRING }}
  input_fields {{ name: "x" type: FLOAT }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 8
  csv_header: true
  {data_options}
}}
feature_configs {{ raw_feature {{ name: "x" }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["x"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [4] }} }} }}
  tasks {{ name: "t" label: "label" loss: {loss} group_field: "query" metrics: [AUC] }}
}}
train_config {{ num_epochs: 1 }}
export_config {{ exporter: NONE }}
"""


def load(tmp_path, rows, loss, data_options="shuffle: false"):
    """A config over `rows` [(query, label)]."""
    data = tmp_path / "data.csv"
    data.write_text("query,x,label\n" + "".join(f"{q},{i / 10},{y}\n" for i, (q, y) in enumerate(rows)))
    path = tmp_path / "c.config"
    path.write_text(CONFIG.format(data=data, loss=loss, data_options=data_options))
    return config_lib.load_config(str(path)), str(data)


SINGLES = [(f"q{i}", i % 2) for i in range(40)]  # every query one row
ONE_LABEL = [(f"q{i // 2}", (i // 2) % 2) for i in range(40)]  # pairs of one label each
MIXED = [(f"q{i // 2}", i % 2) for i in range(40)]  # pairs of a 1 and a 0


@pytest.mark.parametrize("rows, loss, usable", [
    (SINGLES, "PAIRWISE_LOGISTIC", False), (SINGLES, "LISTWISE_SOFTMAX", False),
    (ONE_LABEL, "PAIRWISE_LOGISTIC", False),
    (ONE_LABEL, "LISTWISE_SOFTMAX", True),  # a group of two positives: the softmax still learns
    ([("a", 0), ("a", 0), ("b", 0), ("b", 0)], "LISTWISE_SOFTMAX", False),  # no positive
    (MIXED, "PAIRWISE_LOGISTIC", True), (MIXED, "LISTWISE_SOFTMAX", True),
    (SINGLES[:-2] + [("q0", 0), ("q0", 1)], "PAIRWISE_LOGISTIC", True),  # one pair
])
def test_usable_groups_of_a_batch(rows, loss, usable):
    task = model_pb2.TaskConfig(name="t", label="label", group_field="query",
                                loss=model_pb2.TaskConfig.Loss.Value(loss))
    features = {"query": tf.constant([q for q, _ in rows])}
    targets = {"label": tf.constant([float(y) for _, y in rows])}
    assert group_check._has_group(task, features, targets) is usable  # noqa: SLF001


def test_no_usable_group_is_a_data_error_naming_file_and_group_field(tmp_path):
    config, data = load(tmp_path, SINGLES[:-2] + [("q0", 1), ("q0", 1)], "PAIRWISE_LOGISTIC")
    with pytest.raises(DataError) as raised:
        group_check.check_groups(config)
    assert str(raised.value) == (
        f"{data}: in the first 40 rows of the training input (5 batches as training reads them), "
        "every group of group_field 'query' in a batch has one row or rows of one label, so the "
        "PAIRWISE_LOGISTIC loss of task 't' is 0 at every step and the model cannot learn. The "
        "loss compares the rows of a group within one batch: give each group several rows with "
        "different labels, keep a group's rows next to each other in the file (or use a "
        "pointwise loss such as BINARY_CROSS_ENTROPY).")
    config, _ = load(tmp_path, MIXED, "PAIRWISE_LOGISTIC")
    group_check.check_groups(config)


def test_shuffled_input_is_checked_as_training_reads_it_and_the_run_stops_before_training(tmp_path):
    config, data = load(tmp_path, SINGLES, "PAIRWISE_LOGISTIC", data_options="")
    model_dir = tmp_path / "m"
    with pytest.raises(DataError, match="keep a group's rows next to each other in the file and "
                                        "set data_config.shuffle to false"):
        loop.train_and_evaluate(config, str(model_dir))
    assert not os.path.exists(model_dir / "checkpoint")
