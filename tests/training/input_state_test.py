"""Resume versus continue: every row is trained exactly as often as the plan says."""

import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.models import rank_model
from easyrank.training import input_state, loop

CONFIG = """
train_input_path: "{train}"
eval_input_path: "{train}"
data_config {{
  input_fields {{ name: "row_id" type: INT64 }}
  input_fields {{ name: "x" type: FLOAT }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 10
  csv_header: true
}}
feature_configs {{ raw_feature {{ name: "x" }} }}
feature_configs {{ id_feature {{ name: "row_id" num_buckets: 200 embedding_dim: 2 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["x", "row_id"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [4] }} }} }}
  tasks {{ name: "t" label: "label" metrics: [AUC] }}
}}
train_config {{ num_epochs: {epochs} save_checkpoints_steps: 3 }}
export_config {{ exporter: NONE }}
"""
ROWS = 200


def write_csv(path, ids):
    with open(path, "w") as f:
        f.write("row_id,x,label\n")
        for i in ids:
            f.write(f"{i},{(i * 37 % 11) / 10},{i % 2}\n")
    return str(path)


def load(tmp_path, train, epochs=2, **edits):
    path = tmp_path / "pipeline.config"
    path.write_text(CONFIG.format(train=train, epochs=epochs))
    return config_lib.load_config(str(path), edit_config_json=edits or None)


@pytest.fixture
def row_counts(monkeypatch):
    """How often each row_id went through a training step (counted inside train_step)."""
    counts = tf.Variable(tf.zeros([ROWS], tf.int32))
    original = rank_model.RankModel.train_step

    def counting_train_step(self, data):
        ids = tf.cast(tf.reshape(data[0]["row_id"], [-1]), tf.int32)
        counts.assign_add(tf.math.bincount(ids, minlength=ROWS, maxlength=ROWS))
        return original(self, data)

    monkeypatch.setattr(rank_model.RankModel, "train_step", counting_train_step)
    return counts


def test_resume_trains_every_batch_once_after_an_interruption(tmp_path, row_counts):
    train = write_csv(tmp_path / "day1.csv", range(100))
    model_dir = str(tmp_path / "model")
    # "Interrupted" after 7 of the 20 batches of two epochs.
    first = loop.train_and_evaluate(load(tmp_path, train, **{"train_config.num_steps": 7}), model_dir)
    assert first["global_step"] == 7
    assert row_counts.numpy().sum() == 70
    results = loop.train_and_evaluate(load(tmp_path, train), model_dir)
    assert results["global_step"] == 20
    counts = row_counts.numpy()
    np.testing.assert_array_equal(counts[:100], 2)  # two epochs: no row twice more or skipped
    assert counts[100:].sum() == 0
    # Started again once finished: nothing left to train on this input.
    again = loop.train_and_evaluate(load(tmp_path, train), model_dir)
    assert again["global_step"] == 20 and row_counts.numpy().sum() == 200


def test_continue_trains_every_new_row_once_and_keeps_the_step(tmp_path, row_counts):
    model_dir = str(tmp_path / "model")
    day1 = write_csv(tmp_path / "day1.csv", range(100))
    loop.train_and_evaluate(load(tmp_path, day1), model_dir)
    assert row_counts.numpy().sum() == 200
    row_counts.assign(tf.zeros([ROWS], tf.int32))
    # The next day's file: 50 rows, one epoch, from its first row, step counts on.
    day2 = write_csv(tmp_path / "day2.csv", range(100, 150))
    config = load(tmp_path, day2, epochs=1)
    results = loop.train_and_evaluate(config, model_dir)
    assert results["global_step"] == 25
    counts = row_counts.numpy()
    np.testing.assert_array_equal(counts[100:150], 1)
    assert counts[:100].sum() == 0 and counts[150:].sum() == 0
    recorded, start = input_state.read(tf.train.latest_checkpoint(model_dir))
    assert start == 20 and recorded["files"][0][0] == day2
    # Interrupted on day 3 after 2 of 5 batches, then resumed: each row once.
    row_counts.assign(tf.zeros([ROWS], tf.int32))
    day3 = write_csv(tmp_path / "day3.csv", range(150, 200))
    loop.train_and_evaluate(load(tmp_path, day3, epochs=1, **{"train_config.num_steps": 2}), model_dir)
    results = loop.train_and_evaluate(load(tmp_path, day3, epochs=1), model_dir)
    assert results["global_step"] == 30
    np.testing.assert_array_equal(row_counts.numpy()[150:200], 1)
    assert row_counts.numpy()[:150].sum() == 0


def test_forced_modes(tmp_path, row_counts):
    model_dir = str(tmp_path / "model")
    day1 = write_csv(tmp_path / "day1.csv", range(100))
    loop.train_and_evaluate(load(tmp_path, day1), model_dir)
    # Forced continue on the same file trains it again from its first row.
    results = loop.train_and_evaluate(load(tmp_path, day1, epochs=1), model_dir, input_mode="continue")
    assert results["global_step"] == 30
    np.testing.assert_array_equal(row_counts.numpy()[:100], 3)
    # Forced resume on a small new file would skip more batches than it holds.
    small = write_csv(tmp_path / "small.csv", range(100, 120))
    with pytest.raises(ConfigError, match=r"cannot resume: .* trained 10 batches .* holds only 2 batches"):
        loop.train_and_evaluate(load(tmp_path, small, epochs=1), model_dir, input_mode="resume")
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-30")


def test_checkpoint_without_record_resumes_or_continues_by_batch_count(tmp_path):
    day1 = write_csv(tmp_path / "day1.csv", range(100))
    config = load(tmp_path, day1)
    count = lambda: 20  # noqa: E731
    # No record (a checkpoint of an older easyrank): resume if the input is long enough ...
    ckpt = tf.train.Checkpoint(step=tf.Variable(1)).save(str(tmp_path / "old" / "ckpt"))
    plan = input_state.plan(config, ckpt, 12, count_batches=count)
    assert plan == input_state.Plan("resume", 0, 12, 8)
    # ... else it is new data: the 156 batches on a 20-batch file.
    plan = input_state.plan(config, ckpt, 156, count_batches=count)
    assert plan == input_state.Plan("continue", 156, 0, None)
    with pytest.raises(ConfigError, match="--input_mode=continue"):
        input_state.plan(config, ckpt, 156, mode="resume", count_batches=count)
    with pytest.raises(ConfigError, match="input mode 'sideways'"):
        input_state.plan(config, ckpt, 1, mode="sideways")
    assert os.path.exists(day1)


def test_a_path_spelled_otherwise_resumes(tmp_path, monkeypatch):
    """data.csv, ./data.csv and its absolute path name one input: the run resumes (issue 29)."""
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "data.csv", range(20))
    state = input_state.InputState()
    input_state.record(state, load(tmp_path, "data.csv"), 0)
    checkpoint = str(tmp_path / "ckpt")
    tf.train.Checkpoint(input_state=state).write(checkpoint)
    for spelling in ("./data.csv", str(tmp_path / "data.csv"), "sub/../data.csv"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        plan = input_state.plan(load(tmp_path, spelling), checkpoint, 3)
        assert plan.mode == input_state.RESUME and plan.skip == 3, spelling
    write_csv(tmp_path / "other.csv", range(20))
    assert input_state.plan(load(tmp_path, "other.csv"), checkpoint, 3).mode == input_state.CONTINUE
