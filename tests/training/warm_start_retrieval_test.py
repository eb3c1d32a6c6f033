"""A ranking model warm-started from a retrieval model_dir shares its item tower: the embedding
tables and the item tower's blocks (docs/retrieval.md, issue 30). In process, no training."""

import easyrank  # noqa: F401

# isort: split

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.training import strategies, warm_start
from easyrank.training.model_state import create_model

COMMON = """
train_input_path: "{data}"
eval_input_path: "{data}"
data_config {{
  input_fields {{ name: "user_id" type: INT64 }}
  input_fields {{ name: "item_id" type: INT64 }}
  input_fields {{ name: "genre" type: STRING }}
  input_fields {{ name: "label" type: FLOAT }}
  {labels}
  batch_size: 8
  csv_header: true
}}
feature_configs {{ id_feature {{ name: "user_id" num_buckets: 20 embedding_dim: 4 }} }}
feature_configs {{ id_feature {{ name: "item_id" num_buckets: 30 embedding_dim: 4 }} }}
feature_configs {{ id_feature {{ name: "genre" vocab_list: ["a", "b", "c"] embedding_dim: 4 }} }}
export_config {{ exporter: NONE }}
train_config {{ {train} }}
model_config {{
  feature_groups {{ name: "user" feature_names: ["user_id"] }}
  feature_groups {{ name: "item" feature_names: ["item_id", "genre"] }}
"""
RETRIEVAL = COMMON + """
  retrieval {{
    query_tower {{ backbone {{ blocks {{
      name: "query" inputs {{ feature_group: "user" }} mlp {{ hidden_units: [8, 4] }} }} }} }}
    item_tower {{ backbone {{ blocks {{
      name: "item" inputs {{ feature_group: "item" }} mlp {{ hidden_units: [8, 4] }} }} }} }}
    item_id_field: "item_id"
  }}
}}
"""
RANKING = COMMON + """
  backbone {{
    blocks {{ name: "{block}" inputs {{ feature_group: "item" }} mlp {{ hidden_units: [8, 4] }} }}
    blocks {{ name: "top" inputs {{ feature_group: "user" }} inputs {{ block: "{block}" }}
              mlp {{ hidden_units: [4] }} }}
  }}
  tasks {{ name: "like" label: "label" }}
}}
"""


def load(tmp_path, name, template, **kwargs):
    path = tmp_path / f"{name}.config"
    path.write_text(template.format(data=tmp_path / "data.csv", **kwargs))
    return config_lib.load_config(str(path))


@pytest.fixture(scope="module")
def retrieval_dir(tmp_path_factory):
    """A retrieval model_dir whose checkpoint holds distinctive values (no training needed)."""
    tmp_path = tmp_path_factory.mktemp("retrieval")
    (tmp_path / "data.csv").write_text("user_id,item_id,genre,label\n1,2,a,1\n3,4,b,0\n")
    config = load(tmp_path, "retrieval", RETRIEVAL, labels="", train="")
    model, checkpoint = create_model(config, strategies.build_strategy(config.train_config))
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(size=variable.shape).astype(np.float32))
    model_dir = tmp_path / "model"
    checkpoint.save(str(model_dir / "ckpt"))
    (model_dir / "pipeline.config").write_text(text_format.MessageToString(config))
    return tmp_path, str(model_dir), tf.train.load_checkpoint(str(model_dir))


def _value(reader, key):
    return reader.get_tensor(key + "/.ATTRIBUTES/VARIABLE_VALUE")


@pytest.mark.parametrize("block,renames", [
    ("item", ""),
    ("item_mlp", 'fine_tune_renames { checkpoint_name: "item" name: "item_mlp" }')])
def test_ranking_model_imports_the_item_tower(retrieval_dir, block, renames):
    tmp_path, model_dir, reader = retrieval_dir
    config = load(tmp_path, f"ranking_{block}", RANKING, block=block, labels='label_fields: "label"',
                  train=f'fine_tune_checkpoint: "{model_dir}" {renames}')
    model, checkpoint = create_model(config, strategies.build_strategy(config.train_config))
    summary = warm_start.warm_start(config, checkpoint)
    for name in ("user_id", "item_id", "genre"):  # the tables, by embedding name
        np.testing.assert_array_equal(model.feature_groups.tables[name].numpy(),
                                      _value(reader, f"model/feature_groups/embedding.S{name}"))
    # The ranking block reads the item tower's weights (both layers, kernel and bias).
    tower = "model/item_tower/backbone/block_layers/item/_dense_layers/{}/{}"
    keys = warm_start.variable_keys(checkpoint)
    for layer in (0, 1):
        for weight in ("kernel", "bias"):
            key = f"model/backbone/block_layers/{block}/_dense_layers/{layer}/{weight}"
            np.testing.assert_array_equal(keys[key + "/.ATTRIBUTES/VARIABLE_VALUE"].numpy(),
                                          _value(reader, tower.format(layer, weight)))
    assert len(summary["restored"]) == 3 + 4
    assert any("block_layers/top/" in key for key in summary["new"])
    assert any("query_tower" in key for key in summary["unused"])


def test_a_retrieval_model_without_the_block_keeps_it_fresh(retrieval_dir):
    """A ranking block named like no tower block is new; only the tables carry over."""
    tmp_path, model_dir, reader = retrieval_dir
    config = load(tmp_path, "ranking_other", RANKING, block="other", labels='label_fields: "label"',
                  train=f'fine_tune_checkpoint: "{model_dir}"')
    model, checkpoint = create_model(config, strategies.build_strategy(config.train_config))
    summary = warm_start.warm_start(config, checkpoint)
    assert len(summary["restored"]) == 3
    assert any("block_layers/other/" in key for key in summary["new"])
    kernel = warm_start.variable_keys(checkpoint)[
        "model/backbone/block_layers/other/_dense_layers/0/kernel/.ATTRIBUTES/VARIABLE_VALUE"]
    assert not np.allclose(kernel.numpy(), _value(
        reader, "model/item_tower/backbone/block_layers/item/_dense_layers/0/kernel"))
