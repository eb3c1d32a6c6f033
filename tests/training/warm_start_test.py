"""Warm start from another model: matching variables, resized tables by meaning, bad input."""

import json
import os
import shutil
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.training import loop, strategies, warm_start
from easyrank.training.model_state import create_model

CONFIG = """
train_input_path: "{data}"
eval_input_path: "{data}"
data_config {{
  input_fields {{ name: "row_id" type: INT64 }}
  input_fields {{ name: "color" type: STRING }}
  input_fields {{ name: "shape" type: STRING }}
  input_fields {{ name: "x" type: FLOAT }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 10
  csv_header: true
}}
feature_configs {{ raw_feature {{ name: "x" }} }}
feature_configs {{ id_feature {{ name: "row_id" num_buckets: {buckets} embedding_dim: 2 }} }}
feature_configs {{ id_feature {{ name: "color" {color} embedding_dim: 2 }} }}
feature_configs {{ id_feature {{ name: "shape" hash_bucket_size: {hashes} embedding_dim: 2 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["x", "row_id", "color", "shape"] }}
  backbone {{ blocks {{ name: "{block}" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [4] }} }} }}
  tasks {{ name: "t" label: "label" metrics: [AUC] }}
}}
train_config {{ num_epochs: 2 {train} }}
export_config {{ exporter: NONE }}
"""
COLORS = ["red", "green", "blue", "black"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "model/feature_groups/embedding.S{}/.ATTRIBUTES/VARIABLE_VALUE"
DENSE = "model/backbone/block_layers/{}/_dense_layers/0/kernel/.ATTRIBUTES/VARIABLE_VALUE"


def write_csv(path):
    with open(path, "w") as f:
        f.write("row_id,color,shape,x,label\n")
        for i in range(100):
            f.write(f"{i},{COLORS[i % 4]},s{i % 7},{(i * 37 % 11) / 10},{(i + i // 4) % 2}\n")
    return str(path)


def load(tmp_path, name, buckets=150, color=None, hashes=10, block="deep", train=""):
    color = color or 'vocab_list: ["red", "green", "blue", "black"]'
    path = tmp_path / f"{name}.config"
    path.write_text(CONFIG.format(data=tmp_path / "data.csv", buckets=buckets, color=color,
                                  hashes=hashes, block=block, train=train))
    return config_lib.load_config(str(path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Yesterday's model: trained two epochs; returns (tmp_path, model_dir, checkpoint reader)."""
    tmp_path = tmp_path_factory.mktemp("warm")
    write_csv(tmp_path / "data.csv")
    (tmp_path / "colors.txt").write_text("red\ngreen\nblue\nblack\n")
    config = load(tmp_path, "old", color='vocab_file: "%s"' % (tmp_path / "colors.txt"))
    model_dir = str(tmp_path / "old_model")
    loop.train_and_evaluate(config, model_dir)
    # Yesterday's vocabulary file is gone (or rewritten): the copy in model_dir counts. (Today's
    # is another file: in one process TensorFlow shares a vocabulary table by file name.)
    (tmp_path / "colors.txt").write_text("rewritten\n")
    (tmp_path / "colors_today.txt").write_text("black\nwhite\nred\n")
    return tmp_path, model_dir, tf.train.load_checkpoint(model_dir)


def build(config):
    return create_model(config, strategies.build_strategy(config.train_config))


def table(model, name):
    return model.feature_groups.tables[name].numpy()


def test_grown_and_shrunk_tables_keep_their_rows_by_meaning(trained):
    tmp_path, model_dir, reader = trained
    config = load(tmp_path, "grown", buckets=300, hashes=20, color='vocab_file: "%s"' % (
        tmp_path / "colors_today.txt"), train=f'fine_tune_checkpoint: "{model_dir}"')
    model, checkpoint = build(config)
    fresh_shape = table(model, "shape")
    summary = warm_start.warm_start(config, checkpoint)
    old_ids, ids = reader.get_tensor(KEY.format("row_id")), table(model, "row_id")
    assert ids.shape == (301, 2)
    np.testing.assert_array_equal(ids[:150], old_ids[:150])  # ids both sizes hold
    np.testing.assert_array_equal(ids[-1], old_ids[-1])  # the out-of-range row
    assert not np.allclose(ids[150:300], 0)  # freshly initialised, not zeros
    # Vocabulary [black, white, red] + 1 OOV row, matched by key against [red, green, blue, black].
    old_colors, colors = reader.get_tensor(KEY.format("color")), table(model, "color")
    np.testing.assert_array_equal(colors[0], old_colors[3])
    np.testing.assert_array_equal(colors[2], old_colors[0])
    np.testing.assert_array_equal(colors[3], old_colors[4])
    assert not any(np.array_equal(colors[1], row) for row in old_colors)
    # The hashed feature's ids land in other buckets now: re-initialised.
    np.testing.assert_array_equal(table(model, "shape"), fresh_shape)
    np.testing.assert_array_equal(checkpoint.model.backbone.variables[0].numpy(),
                                  reader.get_tensor(DENSE.format("deep")))
    assert any("shape" in s and "re-initialised" in s for s in summary["new"])
    assert len(summary["resized"]) == 2 and "2 of 3 keys kept their rows" in summary["resized"][0]


def test_shrunk_tables_and_renamed_block(trained):
    tmp_path, model_dir, reader = trained
    config = load(tmp_path, "shrunk", buckets=40, block="tower", color='vocab_list: ["blue"]',
                  train=f'fine_tune_checkpoint: "{model_dir}" '
                        'fine_tune_renames { checkpoint_name: "deep" name: "tower" }')
    model, checkpoint = build(config)
    summary = warm_start.warm_start(config, checkpoint)
    old_ids, ids = reader.get_tensor(KEY.format("row_id")), table(model, "row_id")
    np.testing.assert_array_equal(ids[:40], old_ids[:40])
    np.testing.assert_array_equal(ids[40], old_ids[150])
    np.testing.assert_array_equal(table(model, "color")[0], reader.get_tensor(KEY.format("color"))[2])
    np.testing.assert_array_equal(model.backbone.variables[0].numpy(), reader.get_tensor(DENSE.format("deep")))
    assert summary["unused"] == [] and global_step(model) == 0


def global_step(model):
    return int(model.optimizer.iterations.numpy())


def test_optimizer_state_and_step_are_restored_on_request(trained):
    tmp_path, model_dir, reader = trained
    config = load(tmp_path, "opt", train=f'fine_tune_checkpoint: "{model_dir}" '
                                         "fine_tune_optimizer_state: true")
    model, checkpoint = build(config)
    summary = warm_start.warm_start(config, checkpoint)
    assert global_step(model) == 20
    # Adam: m and v of every trainable variable (all restored unchanged).
    assert summary["optimizer_slots"] == 2 * len(model.trainable_variables)
    kernel = model.backbone.variables[0]
    slot = [v for v in model.optimizer.variables if v.name == "m/" + kernel.name][0]
    old = warm_start._old_full_names(reader)  # checkpoint key -> variable name when saved
    old_slot = [k for k, n in old.items() if n == "m/" + old[DENSE.format("deep")]][0]
    np.testing.assert_array_equal(slot.numpy(), reader.get_tensor(old_slot))
    assert np.abs(slot.numpy()).sum() > 0


def test_warm_started_run_trains_from_the_old_weights(trained):
    tmp_path, model_dir, _ = trained
    new_dir = tmp_path / "new_model"
    config = load(tmp_path, "run", buckets=300, train=f'fine_tune_checkpoint: "{model_dir}"')
    results = loop.train_and_evaluate(config, str(new_dir))
    assert results["global_step"] == 20
    # A second run into the same model_dir resumes its own checkpoint, not the warm start.
    assert loop.train_and_evaluate(config, str(new_dir))["global_step"] == 20


@pytest.mark.parametrize("train, path, message", [
    ('fine_tune_checkpoint: "{tmp}/nowhere"', "train_config.fine_tune_checkpoint",
     "neither a checkpoint"),
    ('fine_tune_checkpoint: "{other}"', "train_config.fine_tune_checkpoint",
     "no variable of .* matches this model"),
    ('fine_tune_checkpoint: "{old}" fine_tune_renames {{ checkpoint_name: "deep" name: "top" }}',
     "train_config.fine_tune_renames[0].name", "names no block, feature or embedding"),
    ('fine_tune_checkpoint: "{old}" fine_tune_renames {{ checkpoint_name: "top" name: "deep" }}',
     "train_config.fine_tune_renames[0].checkpoint_name", "names nothing in"),
])
def test_bad_fine_tune_checkpoint_is_a_config_error_before_any_write(trained, train, path, message):
    tmp_path, model_dir, _ = trained
    other = tmp_path / "other"
    if not other.exists():
        tf.train.Checkpoint(something=tf.Variable([1.0])).save(str(other / "ckpt"))
    config = load(tmp_path, "bad", train=train.format(tmp=tmp_path, other=other, old=model_dir))
    new_dir = tmp_path / "bad_model"
    with pytest.raises(ConfigError, match=message) as error:
        loop.train_and_evaluate(config, str(new_dir))
    assert error.value.path == path
    assert not new_dir.exists() or os.listdir(new_dir) == []


def test_shape_changes_it_cannot_reconcile_name_both_variables(trained):
    tmp_path, model_dir, _ = trained
    config = load(tmp_path, "wide", train=f'fine_tune_checkpoint: "{model_dir}"')
    config.feature_configs[1].id_feature.embedding_dim = 3
    _, checkpoint = build(config)
    with pytest.raises(ConfigError, match=r"deep/_dense_layers/0/kernel of shape \[8, 4\] from "
                                          r"\S+kernel of shape \[7, 4\]"):
        warm_start.warm_start(config, checkpoint)
    config.train_config.fine_tune_exclude.append("/deep/")
    _, checkpoint = build(config)
    with pytest.raises(ConfigError, match=r"embedding.Srow_id \[151, 3\] from \S+row_id \[151, 2\]"):
        warm_start.warm_start(config, checkpoint)


def test_a_changed_model_in_the_same_model_dir_points_to_warm_start(trained, tmp_path):
    data_dir, model_dir, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    config = load(data_dir, "grown_same_dir", buckets=300)
    with pytest.raises(ConfigError, match="needs a new model_dir with train_config.fine_tune_checkpoint"):
        loop.train_and_evaluate(config, str(copy))


def test_a_same_size_vocabulary_with_other_keys_is_not_continued(trained, tmp_path):
    data_dir, model_dir, _ = trained
    shutil.copytree(model_dir, tmp_path / "copy")
    # The old model's vocab_file was [red, green, blue, black]: same size, other order.
    config = load(data_dir, "reordered", color='vocab_list: ["black", "red", "green", "blue"]')
    with pytest.raises(ConfigError, match=r"vocabulary of feature 'color' changed .* 4 rows moved") as error:
        loop.train_and_evaluate(config, str(tmp_path / "copy"))
    assert error.value.path == "feature_configs[2].id_feature.vocab_list"


def test_cli_reports_a_missing_fine_tune_checkpoint_in_one_paragraph(tmp_path):
    model_dir = tmp_path / "model"
    out = subprocess.run(
        [sys.executable, "-m", "easyrank.train", "--pipeline_config_path",
         os.path.join(ROOT, "tests", "configs", "base.config"), "--model_dir", str(model_dir),
         "--edit_config_json", json.dumps({"train_config.fine_tune_checkpoint": str(tmp_path / "no")})],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("Config error: ") and "train_config.fine_tune_checkpoint: " in last
    assert "Traceback" not in out.stderr
    assert not model_dir.exists() or os.listdir(model_dir) == []
