"""Warm start of dynamic tables: the rows travel with their ids, counts and free rows."""

import os
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import warm_start_test as base  # noqa: E402

from easyrank import config as config_lib  # noqa: E402
from easyrank.data import dataset  # noqa: E402
from easyrank.training import loop, model_state, warm_start  # noqa: E402

DYNAMIC = base.CONFIG.replace("hash_bucket_size: {hashes}", "dynamic {{ capacity: {hashes} }}")
HASHED = base.CONFIG


def load(tmp_path, name, template=DYNAMIC, **edits):
    path = tmp_path / f"{name}.config"
    args = dict(buckets=150, color='vocab_list: ["red", "green", "blue", "black"]', hashes=5,
                block="deep", train="")
    args.update(edits)
    path.write_text(template.format(data=tmp_path / "data.csv", **args))
    return config_lib.load_config(str(path))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model with a dynamic table of 5 rows for 7 shapes: evictions happened."""
    tmp_path = tmp_path_factory.mktemp("warm_dynamic")
    base.write_csv(tmp_path / "data.csv")
    model_dir = str(tmp_path / "old_model")
    loop.train_and_evaluate(load(tmp_path, "old"), model_dir)
    config = load(tmp_path, "old")
    source = model_state.single_device_model(config, tf.train.latest_checkpoint(model_dir))
    return tmp_path, model_dir, source


def predictions(model, config):
    batches = dataset.build_dataset(config.data_config, list(config.train_input_path), training=False,
                                    batch_size=100)
    features, _ = next(iter(batches))
    return model(features, training=False)["t/probs"].numpy()


def rows_of(model):
    rows = model.feature_groups.dynamic_tables["shape"]
    keys, values = rows.mapping.export()
    return rows, dict(zip([k.decode() for k in keys.numpy()], values.numpy().tolist()))


@pytest.mark.parametrize("optimizer_state", [False, True])
def test_same_capacity_predicts_exactly_what_the_source_predicted(trained, optimizer_state):
    tmp_path, model_dir, source = trained
    train = f'fine_tune_checkpoint: "{model_dir}"'
    if optimizer_state:
        train += " fine_tune_optimizer_state: true"
    config = load(tmp_path, "same", train=train)
    model, checkpoint = base.build(config)
    summary = warm_start.warm_start(config, checkpoint)
    np.testing.assert_array_equal(predictions(model, config), predictions(source, config))
    rows, mapping = rows_of(model)
    old_rows, old_mapping = rows_of(source)
    assert mapping == old_mapping and len(mapping) == 5
    for name in ("row_keys", "row_scores", "free_rows", "num_free", "clock", "admitted", "evicted"):
        np.testing.assert_array_equal(getattr(rows, name).numpy(), getattr(old_rows, name).numpy())
    assert int(rows.evicted.numpy()) > 0  # 7 shapes in 5 rows
    assert any("with its id mapping" in s for s in summary["restored"])
    assert not any("_lookup_tables" in s for s in summary["unused"] + summary["new"])
    if optimizer_state:
        slot = [s for s, _ in rows._slots][0]  # Adam's m of the table
        assert np.abs(slot.numpy()).sum() > 0


def test_larger_capacity_keeps_every_id_and_predicts_the_same(trained):
    tmp_path, model_dir, source = trained
    config = load(tmp_path, "larger", hashes=9, train=f'fine_tune_checkpoint: "{model_dir}"')
    model, checkpoint = base.build(config)
    summary = warm_start.warm_start(config, checkpoint)
    np.testing.assert_array_equal(predictions(model, config), predictions(source, config))
    rows, mapping = rows_of(model)
    _, old_mapping = rows_of(source)
    assert set(mapping) == set(old_mapping) and sorted(mapping.values()) == [1, 2, 3, 4, 5]
    assert int(rows.num_free.numpy()) == 4
    # The next admitted id takes row 6, a fresh one.
    rows.update(tf.constant(["never_seen"]))
    assert rows_of(model)[1]["never_seen"] == 6
    assert "kept 5 of 5 ids" in summary["resized"][0]


def test_smaller_capacity_keeps_the_most_counted_ids(trained):
    tmp_path, model_dir, source = trained
    config = load(tmp_path, "smaller", hashes=2, train=f'fine_tune_checkpoint: "{model_dir}"')
    model, checkpoint = base.build(config)
    warm_start.warm_start(config, checkpoint)
    old_rows, old_mapping = rows_of(source)
    scores = old_rows.row_scores.numpy()
    best = sorted(old_mapping, key=lambda k: (-scores[old_mapping[k]], old_mapping[k]))[:2]
    rows, mapping = rows_of(model)
    assert sorted(mapping) == sorted(best) and int(rows.num_free.numpy()) == 0
    old_table = source.feature_groups.tables["shape"].numpy()
    table = model.feature_groups.tables["shape"].numpy()
    for key in best:
        np.testing.assert_array_equal(table[mapping[key]], old_table[old_mapping[key]])
    np.testing.assert_array_equal(table[0], old_table[0])


def test_hashed_and_dynamic_tables_do_not_swap_rows(trained):
    tmp_path, model_dir, _ = trained
    config = load(tmp_path, "hashed", template=HASHED, hashes=6,
                  train=f'fine_tune_checkpoint: "{model_dir}"')
    model, checkpoint = base.build(config)
    fresh = model.feature_groups.tables["shape"].numpy()
    summary = warm_start.warm_start(config, checkpoint)
    np.testing.assert_array_equal(model.feature_groups.tables["shape"].numpy(), fresh)
    assert any("was a dynamic table" in s for s in summary["new"])
    hashed_dir = str(tmp_path / "hashed_model")
    loop.train_and_evaluate(load(tmp_path, "hashed_old", template=HASHED, hashes=6), hashed_dir)
    config = load(tmp_path, "dynamic_from_hashed", train=f'fine_tune_checkpoint: "{hashed_dir}"')
    model, checkpoint = base.build(config)
    summary = warm_start.warm_start(config, checkpoint)
    assert rows_of(model)[1] == {}
    assert any("was not a dynamic table" in s for s in summary["new"])


def test_renamed_dynamic_feature_carries_its_mapping(trained):
    tmp_path, model_dir, source = trained
    template = DYNAMIC.replace('name: "shape" dynamic', 'name: "shape" embedding_name: "form" dynamic')
    config = load(tmp_path, "renamed", template=template,
                  train=f'fine_tune_checkpoint: "{model_dir}" '
                        'fine_tune_renames { checkpoint_name: "shape" name: "form" }')
    model, checkpoint = base.build(config)
    warm_start.warm_start(config, checkpoint)
    rows = model.feature_groups.dynamic_tables["form"]
    keys, values = rows.mapping.export()
    assert dict(zip([k.decode() for k in keys.numpy()], values.numpy().tolist())) == rows_of(source)[1]
    np.testing.assert_array_equal(predictions(model, config), predictions(source, config))
