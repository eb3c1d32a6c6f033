"""Cross, lookup and vector features end to end: train, evaluate, export, check_export.

The data is generated so that each feature kind carries signal of its own: the label depends
on the user's count for the item's category (lookup), on a fixed vector per item (vector)
and on gender x category (cross).
"""


import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest

from easyrank import config as config_lib
from easyrank.serving import checks
from easyrank.training import loop

CONFIG = """
train_input_path: "{train}"
eval_input_path: "{eval}"
data_config {{
  csv_header: true
  input_fields {{ name: "user" type: STRING }}
  input_fields {{ name: "gender" type: STRING }}
  input_fields {{ name: "category" type: STRING }}
  input_fields {{ name: "user_clicks" type: STRING }}
  input_fields {{ name: "item_vector" type: STRING }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 128
}}
feature_configs {{ id_feature {{ name: "user" hash_bucket_size: 500 embedding_dim: 4 }} }}
feature_configs {{ cross_feature {{ name: "gender_x_category" input_names: ["gender", "category"]
                                    hash_bucket_size: 200 embedding_dim: 4 }} }}
feature_configs {{ lookup_feature {{ name: "clicks_in_category" map_input: "user_clicks" key_input: "category"
                                     normalizer {{ log1p: true }} }} }}
feature_configs {{ lookup_feature {{ name: "clicks_id" map_input: "user_clicks" key_input: "category"
                                     hash_bucket_size: 20 embedding_dim: 2 }} }}
feature_configs {{ vector_feature {{ name: "item_vector" dimension: 4 separator: ";" embedding_dim: 4 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["user", "gender_x_category", "clicks_in_category", "clicks_id",
                                              "item_vector"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [32, 16] }} }} }}
  tasks {{ name: "ctr" label: "label" metrics: [AUC, LOGLOSS] }}
}}
train_config {{ optimizer {{ adam {{ learning_rate: 0.01 }} }} num_epochs: 6 seed: 3 }}
"""


def write_data(path, rows, seed):
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(0)  # the same users, items and effects in every file
    users, categories = 300, 8
    gender = world.choice(["f", "m"], users)
    counts = world.poisson(0.7, size=(users, categories)) * world.integers(0, 2, size=(users, categories))
    vectors = world.normal(size=(categories * 5, 4)).round(3)
    w = np.array([1.0, -1.0, 0.5, 0.0])
    cross = world.normal(scale=1.2, size=(2, categories))
    lines = ["user,gender,category,user_clicks,item_vector,label"]
    for _ in range(rows):
        u, item = rng.integers(users), rng.integers(categories * 5)
        c = item % categories
        clicks = "|".join(f"c{k}:{counts[u, k]}" for k in range(categories) if counts[u, k])
        logit = 1.2 * np.log1p(counts[u, c]) + vectors[item] @ w + cross[int(gender[u] == "m"), c] - 1.0
        label = int(rng.random() < 1 / (1 + np.exp(-logit)))
        vector = ";".join(str(v) for v in vectors[item])
        lines.append(f"u{u},{gender[u]},c{c},{clicks},{vector},{label}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_cross_lookup_and_vector_features_train_and_export(tmp_path):
    train, evaluation = tmp_path / "train.csv", tmp_path / "eval.csv"
    write_data(train, 6000, 1)
    write_data(evaluation, 2000, 2)
    config = config_lib.parse_config(CONFIG.format(train=train, eval=evaluation))
    config_lib.validate(config)
    results = loop.train_and_evaluate(config, str(tmp_path / "model"))
    # An untrained model scores 0.5; the generating model's own AUC on this data is about 0.8.
    assert results["ctr/auc"] > 0.72, results
    problems, lines = checks.check(str(tmp_path / "model" / "export"), num_rows=32, cc_check=True)
    assert problems == [], "\n".join(lines)
    assert any("LoadSavedModel + Session::Run" in line for line in lines), lines


LOSSES_CONFIG = """
train_input_path: "{train}"
eval_input_path: "{eval}"
data_config {{
  csv_header: true
  input_fields {{ name: "user" type: STRING }}
  input_fields {{ name: "item" type: STRING }}
  input_fields {{ name: "x" type: FLOAT }}
  input_fields {{ name: "klass" type: FLOAT }}
  input_fields {{ name: "y" type: FLOAT }}
  label_fields: ["klass", "y"]
  batch_size: 128
}}
feature_configs {{ id_feature {{ name: "user" hash_bucket_size: 200 embedding_dim: 4 }} }}
feature_configs {{ id_feature {{ name: "item" hash_bucket_size: 200 embedding_dim: 4 }} }}
feature_configs {{ raw_feature {{ name: "x" }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["user", "item", "x"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [32] }} }} }}
  tasks {{ name: "kind" label: "klass" loss: SOFTMAX_CROSS_ENTROPY num_classes: 3 metrics: [ACCURACY, LOGLOSS, AUC]
           tower {{ hidden_units: [16] }} }}
  tasks {{ name: "rank" label: "y" loss: LISTWISE_SOFTMAX group_field: "user" metrics: [AUC, GAUC] }}
  tasks {{ name: "ctr" label: "y" loss: FOCAL focal_gamma: 1 metrics: [AUC, LOGLOSS] relation_tasks: ["kind"] }}
}}
train_config {{ optimizer {{ adam {{ learning_rate: 0.01 }} }} num_epochs: 5 seed: 5 }}
"""


def write_loss_data(path, rows, seed):
    rng = np.random.default_rng(seed)
    world = np.random.default_rng(1)
    item_class = world.integers(0, 3, 60)
    item_quality = world.normal(size=60)
    lines = ["user,item,x,klass,y"]
    for _ in range(rows):
        u, i, x = rng.integers(40), rng.integers(60), rng.normal()
        klass = item_class[i] if rng.random() < 0.9 else rng.integers(3)
        y = int(rng.random() < 1 / (1 + np.exp(-(2 * item_quality[i] + x))))
        lines.append(f"u{u},i{i},{x:.3f},{klass},{y}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_multiclass_listwise_and_focal_tasks_train_and_export(tmp_path):
    train, evaluation = tmp_path / "train.csv", tmp_path / "eval.csv"
    write_loss_data(train, 5000, 1)
    write_loss_data(evaluation, 1500, 2)
    config = config_lib.parse_config(LOSSES_CONFIG.format(train=train, eval=evaluation))
    config_lib.validate(config)
    results = loop.train_and_evaluate(config, str(tmp_path / "model"))
    # Untrained: accuracy about 1/3, AUC 0.5. The class is the item's in 90 % of rows.
    assert results["kind/accuracy"] > 0.8, results
    assert results["rank/auc"] > 0.75 and results["ctr/auc"] > 0.75, results
    problems, lines = checks.check(str(tmp_path / "model" / "export"), num_rows=32)
    assert problems == [], "\n".join(lines)
    assert any("kind/classify" in line for line in lines), lines
