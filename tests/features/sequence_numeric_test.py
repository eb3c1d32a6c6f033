"""sequence_numeric_feature (issue 28): numbers per step of a sequence, against NumPy, and in
the keys of DIN and BST."""

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.features.builder import build_columns
from easyrank.models.compiler import build_model
from easyrank.protos import feature_pb2

HIST = ["a;b;c;d", "", "b", "c;a"]
PRICE = ["1;2;3;4", "", "10", "0.5;-1"]


def columns(side):
    texts = ['sequence_feature { name: "hist" max_len: 3 hash_bucket_size: 10 embedding_dim: 2 }',
             f'sequence_numeric_feature {{ name: "price" sequence: "hist" {side} }}']
    return build_columns([text_format.Parse(t, feature_pb2.FeatureConfig()) for t in texts])


def reference(normalize=lambda x: x):
    """[B, 3] of the last 3 values of each row (normalized), zero at padding; lengths."""
    out, lengths = np.zeros([len(PRICE), 3], np.float32), []
    for i, text in enumerate(PRICE):
        values = [float(v) for v in text.split(";") if v][-3:]
        out[i, :len(values)] = normalize(np.array(values, np.float32))
        lengths.append(len(values))
    return out, lengths


def test_values_normalized_truncated_and_padded_like_numpy():
    col = columns("normalizer { mean: 2 std: 4 }")["price"]
    value = col({"price": tf.constant(PRICE), "hist": tf.constant(HIST)}, {})
    want, lengths = reference(lambda x: (x - 2) / 4)
    np.testing.assert_allclose(value.embeddings.numpy()[:, :, 0], want, rtol=1e-6)
    assert value.embeddings.shape == (4, 3, 1) and value.lengths.numpy().tolist() == lengths


def test_linear_map_buckets_and_list_inputs():
    col = columns("embedding_dim: 2")["price"]
    assert col.table_spec() == ("price", 1, 2)
    row = np.array([[0.5, -2.0]], np.float32)
    lists = tf.constant([["1", "2", "3", "4"], ["", "", "", ""], ["10", "", "", ""], ["0.5", "-1", "", ""]])
    hist = tf.constant([["a", "b", "c", "d"], ["", "", "", ""], ["b", "", "", ""], ["c", "a", "", ""]])
    out = col({"price": lists, "hist": hist}, {"price": tf.constant(row)}).embeddings.numpy()
    want, _ = reference()
    np.testing.assert_allclose(out, want[:, :, None] * row[None], rtol=1e-6)
    col = columns("boundaries: [0, 2.5] embedding_dim: 1")["price"]
    table = tf.constant([[1.0], [2.0], [3.0]])
    out = col({"price": tf.constant(PRICE), "hist": tf.constant(HIST)}, {"price": table}).embeddings.numpy()
    mask = np.arange(3)[None, :] < np.array(reference()[1])[:, None]
    np.testing.assert_array_equal(out[:, :, 0], (np.digitize(want, [0, 2.5]) + 1) * mask)


@pytest.mark.parametrize("price, message", [
    (["1;2;3;4", "", "10", "0.5"], "input field 'price' holds another number of values than its sequence 'hist'"),
    (["1;2;3;x", "", "10", "0.5;1"], "input field 'price' holds a value that is not a number"),
])
def test_data_errors_name_the_field(price, message):
    col = columns("")["price"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        col({"price": tf.constant(price), "hist": tf.constant(HIST)}, {})


CONFIG = """
train_input_path: "x.csv"
model_dir: "/tmp/unused"
data_config {
  input_fields { name: "item" type: STRING }
  input_fields { name: "price" type: FLOAT }
  input_fields { name: "hist" type: STRING }
  input_fields { name: "hist_price" type: STRING }
  input_fields { name: "label" type: FLOAT }
  label_fields: "label"
}
feature_configs { id_feature { name: "item" hash_bucket_size: 20 embedding_dim: 6 } }
feature_configs { raw_feature { name: "price" embedding_dim: 2 normalizer { mean: 5 std: 5 } embedding_name: "p" } }
feature_configs { sequence_feature { name: "hist" max_len: 4 hash_bucket_size: 20 embedding_dim: 6
                                     embedding_name: "item" } }
feature_configs { sequence_numeric_feature { name: "hist_price" sequence: "hist" embedding_dim: 2
                                             normalizer { mean: 5 std: 5 } embedding_name: "p" } }
model_config {
  feature_groups { name: "seq" feature_names: ["item", "price", "hist", "hist_price"] }
  backbone {
    blocks { name: "din" inputs { feature_group: "seq" } din { attention_units: [4] } }
    blocks { name: "bst" inputs { feature_group: "seq" } bst { num_heads: 2 } }
    blocks { name: "top" inputs { block: "din" } inputs { block: "bst" } mlp { hidden_units: [4] } }
  }
  tasks { name: "t" label: "label" }
}
"""


def test_din_and_bst_read_side_information_beside_the_ids():
    config = config_lib.parse_config(CONFIG, "side.config")
    config_lib.validate(config)
    model = build_model(config)
    groups = model.feature_groups
    assert groups.output_shapes()["seq"].sequence.keys == (4, 8)  # 6 id + 2 price per step
    batch = {"item": tf.constant(["a", "b"]), "price": tf.constant([3.0, 8.0]),
             "hist": tf.constant(["a;b", "c"]), "hist_price": tf.constant(["1;2", "9"])}
    first = model(batch, training=False)["t/logits"].numpy()
    changed = model(dict(batch, hist_price=tf.constant(["1;7", "9"])), training=False)["t/logits"].numpy()
    assert first[1] == changed[1] and abs(first[0] - changed[0]) > 1e-7  # only row 0's steps changed
    assert model.feature_groups.tables["p"].shape == (1, 2)  # one linear map for target and steps


@pytest.mark.parametrize("edit, path", [
    (('sequence: "hist"', 'sequence: "item"'), "feature_configs[3].sequence_numeric_feature.sequence"),
    (('name: "hist_price" sequence', 'name: "hist_price" input_name: "price" sequence'),
     "feature_configs[3].sequence_numeric_feature.input_name"),
    (('embedding_dim: 2\n', 'embedding_dim: -1\n'), "feature_configs[3].sequence_numeric_feature.embedding_dim"),
    # side information has its sequence's max_len (3), the group's other sequence 4
    (('sequence: "hist"', 'sequence: "hist2"'), "model_config.feature_groups[0]"),
])
def test_bad_side_information_is_a_config_error_naming_the_field(edit, path):
    text = CONFIG.replace(*edit) + 'feature_configs { sequence_feature { name: "hist2" input_name: "hist" ' \
        'max_len: 3 hash_bucket_size: 5 } }\n'
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "side.config"))
    assert info.value.path == path, info.value


def test_the_console_reports_a_misaligned_row_as_a_data_error_naming_the_field():
    from easyrank.console import app
    col = columns("")["price"]
    # In a graph, as training and serving run the model (an eager Assert words its error otherwise).
    traced = tf.function(lambda price, hist: col({"price": price, "hist": hist}, {}).embeddings)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        traced(tf.constant(["1;2", "3"]), tf.constant(["a;b", "c;d"]))
    message = app.data_error_message(info.value)
    assert message and message.startswith("[sequence_numeric_feature 'price': input field 'price' holds another "
                                          "number of values than its sequence 'hist'"), message
