"""Chunked restore of large variables: exact values, TF's checks kept, resume unchanged.

Thresholds are lowered through parameters (or the module constant for the train loop) so
that small variables take the chunked path; memory is measured by tools/restore_memory.py.
"""

import os
import shutil

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.training import chunked_restore, loop, strategies, warm_start
from easyrank.training.embedding_optimizers import LazyAdam, RowwiseAdagrad
from easyrank.training.model_state import create_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD_CHECKPOINT = os.path.join(ROOT, "tests", "data", "layout_checkpoint", "ckpt-3")


class Tables(tf.Module):
    def __init__(self, rows=(103, 64), dim=3):
        super().__init__()
        self.tables = [tf.Variable(tf.zeros([r, dim]), name=f"t{i}") for i, r in enumerate(rows)]
        self.bias = tf.Variable(tf.zeros([dim]), name="bias")


def trained(optimizer):
    """Tables (103 rows: not a multiple of any chunk below, and 64) with optimizer slots,
    after three sparse updates, and a checkpoint of them."""
    module = Tables()
    for i, t in enumerate(module.tables):
        t.assign(tf.random.stateless_uniform(t.shape, seed=[i, 1]))
    optimizer.build(module.tables)
    for step in range(3):
        optimizer.apply_gradients(
            (tf.IndexedSlices(tf.random.stateless_normal([4, 3], seed=[step, i]),
                              tf.constant([0, 5, 63, step + 60], tf.int64), [t.shape[0], 3]), t)
            for i, t in enumerate(module.tables))
    return tf.train.Checkpoint(module=module, optimizer=optimizer)


def variables(checkpoint):
    return warm_start.variable_keys(checkpoint)


def scramble(checkpoint):
    """Every variable gets another value, and tables are gathered from (copy-on-read mode)."""
    for variable in variables(checkpoint).values():
        tf.gather(variable, [0]) if variable.shape.rank else None
        variable.assign(tf.fill(variable.shape, tf.constant(7, variable.dtype)))


@pytest.mark.parametrize("make", [lambda: LazyAdam(0.1), lambda: RowwiseAdagrad(0.1)],
                         ids=["lazy_adam", "rowwise_adagrad"])
@pytest.mark.parametrize("chunk", [1, 10, 6 * 3, 10 ** 6])
def test_tables_and_slots_restore_exactly_across_chunk_boundaries(tmp_path, make, chunk):
    checkpoint = trained(make())
    path = checkpoint.save(str(tmp_path / "ckpt"))
    reader = tf.train.load_checkpoint(path)
    keys = variables(checkpoint)
    large = chunked_restore.large_variables(checkpoint, path, large_elements=64)
    # Both tables and every slot of theirs (m and v, or one accumulator per row), not the bias.
    slots = 2 if isinstance(checkpoint.optimizer, LazyAdam) else 1
    assert len(large) == 2 * (1 + slots)
    assert {id(v) for v, _ in large} == {id(v) for v in keys.values()
                                         if v.shape.rank and v.shape[0] in (103, 64)}
    scramble(checkpoint)

    chunked_restore.restore(checkpoint, path, large_elements=64, chunk_elements=chunk).assert_consumed()
    for key, variable in keys.items():
        np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(key), err_msg=key)
    assert np.ptp(checkpoint.module.tables[0].numpy()) > 0.5  # not a constant fill


def test_tf_restore_leaves_the_large_variables_to_the_chunked_read(tmp_path, monkeypatch):
    """The memory saving rests on TF skipping them (no full read): without the chunked read
    they keep their values, and the small ones are restored."""
    checkpoint = trained(LazyAdam(0.1))
    path = checkpoint.save(str(tmp_path / "ckpt"))
    scramble(checkpoint)
    monkeypatch.setattr(chunked_restore, "read_into", lambda *args: None)
    chunked_restore.restore(checkpoint, path, large_elements=64).assert_consumed()
    large = {id(v) for v, _ in chunked_restore.large_variables(checkpoint, path, 64)}
    reader = tf.train.load_checkpoint(path)
    for key, variable in variables(checkpoint).items():
        if id(variable) in large:
            assert np.all(variable.numpy() == 7), key
        else:
            np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(key), err_msg=key)


def test_restored_tables_train_on_as_after_a_plain_restore(tmp_path):
    path = trained(LazyAdam(0.1)).save(str(tmp_path / "ckpt"))
    results = []
    for chunked in (False, True):
        checkpoint = trained(LazyAdam(0.1))
        scramble(checkpoint)
        if chunked:
            chunked_restore.restore(checkpoint, path, large_elements=64, chunk_elements=10)
        else:
            checkpoint.restore(path)
        table = checkpoint.module.tables[0]
        checkpoint.optimizer.apply_gradients([(tf.IndexedSlices(
            tf.ones([2, 3]), tf.constant([1, 102], tf.int64), [103, 3]), table)])
        results.append([v.numpy() for v in variables(checkpoint).values()])
    for plain, chunked in zip(*results):
        np.testing.assert_array_equal(chunked, plain)


def test_a_corrupt_entry_fails_its_checksum(tmp_path):
    checkpoint = trained(LazyAdam(0.1))
    path = checkpoint.save(str(tmp_path / "ckpt"))
    large = chunked_restore.large_variables(checkpoint, path, large_elements=64)
    data_file, entry = large[0][1]
    with open(data_file, "r+b") as f:  # flip one byte inside the last chunk of the entry
        f.seek(entry.offset + entry.size - 5)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(tf.errors.DataLossError, match="checksum mismatch"):
        chunked_restore.restore(checkpoint, path, large_elements=64, chunk_elements=10)


def test_a_variable_of_another_shape_is_left_to_tf_and_its_error(tmp_path):
    path = tf.train.Checkpoint(module=Tables(rows=(103, 64))).save(str(tmp_path / "ckpt"))
    checkpoint = tf.train.Checkpoint(module=Tables(rows=(120, 64)))
    assert [v.shape[0] for v, _ in chunked_restore.large_variables(checkpoint, path, 64)] == [64]
    with pytest.raises(ValueError, match="120"):
        chunked_restore.restore(checkpoint, path, large_elements=64)


def test_a_checkpoint_written_by_earlier_code_restores_through_the_chunked_path():
    config = config_lib.load_config(os.path.join(os.path.dirname(OLD_CHECKPOINT), "layout.config"))
    model, _ = create_model(config, strategies.build_strategy(config.train_config))
    checkpoint = tf.train.Checkpoint(model=model)
    large = chunked_restore.large_variables(checkpoint, OLD_CHECKPOINT, large_elements=1)
    assert len(large) > 30  # every weight of rank 1 or more: tables, kernels, biases
    chunked_restore.restore(checkpoint, OLD_CHECKPOINT, large_elements=1, chunk_elements=5).expect_partial()
    reader = tf.train.load_checkpoint(OLD_CHECKPOINT)
    keys = {k: v for k, v in variables(checkpoint).items() if not k.startswith("model/optimizer/")}
    for key, variable in keys.items():
        np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(key), err_msg=key)


CONFIG = """
train_input_path: "{data}"
eval_input_path: "{data}"
data_config {{
  input_fields {{ name: "item" type: INT64 }}
  input_fields {{ name: "x" type: FLOAT }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 10
  csv_header: true
}}
feature_configs {{ raw_feature {{ name: "x" }} }}
feature_configs {{ id_feature {{ name: "item" num_buckets: 150 embedding_dim: 4 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["x", "item"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [4] }} }} }}
  tasks {{ name: "t" label: "label" metrics: [AUC] }}
}}
train_config {{ num_epochs: {epochs} save_checkpoints_steps: 5 {train} }}
export_config {{ exporter: NONE }}
"""


def write_config(tmp_path, epochs, train=""):
    if not (tmp_path / "data.csv").exists():
        with open(tmp_path / "data.csv", "w") as f:
            f.write("item,x,label\n")
            for i in range(60):
                f.write(f"{i * 7 % 150},{(i * 37 % 11) / 10},{(i + i // 4) % 2}\n")
    path = tmp_path / f"e{epochs}{len(train)}.config"
    path.write_text(CONFIG.format(data=tmp_path / "data.csv", epochs=epochs, train=train))
    return config_lib.load_config(str(path))


def test_resumed_run_with_chunked_tables_and_slots_trains_as_with_tf_restore(tmp_path, monkeypatch):
    def config(epochs):
        return write_config(tmp_path, epochs)

    loop.train_and_evaluate(config(1), str(tmp_path / "tf"))
    shutil.copytree(tmp_path / "tf", tmp_path / "chunked")
    loop.train_and_evaluate(config(2), str(tmp_path / "tf"))  # plain TF restore (threshold 2^24)
    reads, read_into = [], chunked_restore.read_into
    monkeypatch.setattr(chunked_restore, "LARGE_ELEMENTS", 151 * 4)  # the table (+ OOV row), m, v
    monkeypatch.setattr(chunked_restore, "read_into",
                        lambda variable, *args: reads.append(variable.shape) or read_into(variable, *args))
    loop.train_and_evaluate(config(2), str(tmp_path / "chunked"))
    assert reads.count(tf.TensorShape([151, 4])) >= 3  # resuming: the table, its m and v

    plain, chunked = (tf.train.load_checkpoint(str(tmp_path / d)) for d in ("tf", "chunked"))
    names = [k for k in plain.get_variable_to_shape_map() if k.endswith("VARIABLE_VALUE")]
    assert any("embedding" in k for k in names)
    assert plain.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") > 6  # resumed, trained on
    for name in names:
        np.testing.assert_array_equal(chunked.get_tensor(name), plain.get_tensor(name), err_msg=name)



def test_warm_start_reads_large_tables_and_slots_in_place_with_the_same_values(tmp_path, monkeypatch):
    loop.train_and_evaluate(write_config(tmp_path, 1), str(tmp_path / "old"))
    config = write_config(tmp_path, 1, f'fine_tune_checkpoint: "{tmp_path / "old"}" '
                                       "fine_tune_optimizer_state: true")
    results, reads, read_into = [], [], chunked_restore.read_into
    monkeypatch.setattr(chunked_restore, "read_into",
                        lambda variable, *args: reads.append(variable.shape) or read_into(variable, *args))
    for large in (1 << 24, 151 * 4):  # none chunked; the table and its m, v chunked
        monkeypatch.setattr(chunked_restore, "LARGE_ELEMENTS", large)
        model, checkpoint = create_model(config, strategies.build_strategy(config.train_config))
        summary = warm_start.warm_start(config, checkpoint)
        assert summary["optimizer_slots"] == 2 * len(model.trainable_variables)
        results.append({k: v.numpy() for k, v in variables(checkpoint).items()})
    assert reads == [tf.TensorShape([151, 4])] * 3
    reader = tf.train.load_checkpoint(str(tmp_path / "old"))
    table = "model/feature_groups/embedding.Sitem/.ATTRIBUTES/VARIABLE_VALUE"
    np.testing.assert_array_equal(results[1][table], reader.get_tensor(table))
    assert results[0].keys() == results[1].keys()
    for key in results[0]:
        np.testing.assert_array_equal(results[1][key], results[0][key], err_msg=key)
