"""match_feature (issue 28): the weight of a row's key in a key-value map field, against Python."""

import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.features.builder import build_columns
from easyrank.protos import feature_pb2

BASE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "base.config")
MAPS = ["sports:3|music:1", "music:2.5", "", "sports|news:1|sports:0.5", "news:1|sports:", "Sports:9"]
KEYS = ["sports", "sports", "sports", "sports", "news", "sports"]


def python_match(text, key, hit=False, sep="|", kv=":"):
    """Sum of the weights of `key` in "k:w|k|k:w" (a missing or empty weight is 1), or whether it occurs."""
    total, found = 0.0, False
    for entry in (e for e in text.split(sep) if e):
        k, _, w = entry.partition(kv)
        if k == key:
            found = True
            total += float(w) if w else 1.0
    return float(found) if hit else total


def column(extra):
    text = f'match_feature {{ name: "x" map_input: "m" key_input: "k" {extra} }}'
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


@pytest.mark.parametrize("mode", ["WEIGHT", "HIT"])
def test_match_matches_python(mode):
    out = column(f"mode: {mode}")({"m": tf.constant(MAPS), "k": tf.constant(KEYS)}, {}).numpy()
    want = [python_match(m, k, hit=mode == "HIT") for m, k in zip(MAPS, KEYS)]
    np.testing.assert_allclose(out[:, 0], want, rtol=1e-6)
    assert out.shape == (6, 1)


def test_list_input_int_keys_two_level_keys_and_buckets():
    # A [B, N] list padded with "" (tf.Example bytes_list), plain keys counted; INT64 keys.
    lists = tf.constant([["3", "5", "3"], ["5", "", ""], ["", "", ""]])
    col = column('separator: ";"')
    out = col({"m": lists, "k": tf.constant([3, 5, 7], tf.int64)}, {}).numpy()
    np.testing.assert_array_equal(out[:, 0], [2, 1, 0])
    # EasyRec's two-level maps: "cat^brand:w".
    col = column('secondary_key_input: "s" boundaries: [0.5, 2] embedding_dim: 1')
    table = tf.constant([[0.0], [1.0], [2.0]])
    maps = tf.constant(["a^x:1|a^y:3", "a^x:1|b^x:5", "a^x:0.2"])
    out = col({"m": maps, "k": tf.constant(["a", "b", "a"]), "s": tf.constant(["y", "x", "x"])},
              {"x": table}).numpy()
    np.testing.assert_array_equal(out[:, 0], np.digitize([3, 5, 0.2], [0.5, 2]))
    assert col.table_spec() == ("x", 3, 1)


def test_a_map_whose_weights_are_not_numbers_is_a_data_error_naming_the_feature():
    col = column("")
    with pytest.raises(tf.errors.InvalidArgumentError, match="match feature 'x': input field 'm' is not a map"):
        col({"m": tf.constant(["a:1", "Comedy:drama"]), "k": tf.constant(["a", "a"])}, {})


@pytest.mark.parametrize("match, field", [
    ('map_input: "age" key_input: "sex"', "map_input"),  # the map field is a number, not a map
    ('map_input: "nope" key_input: "sex"', "map_input"),
    ('map_input: "education" key_input: "age"', "key_input"),
    ('map_input: "education" key_input: "sex" kv_separator: "|"', "kv_separator"),
    ('map_input: "education" key_input: "sex" embedding_dim: 4', "embedding_dim"),
    ('map_input: "education" key_input: "sex" boundaries: [2, 1] embedding_dim: 4', "boundaries"),
])
def test_bad_matches_are_config_errors_naming_the_field(match, field):
    text = open(BASE, encoding="utf-8").read() + f'\nfeature_configs {{ match_feature {{ name: "x" {match} }} }}\n'
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "base.config"))
    assert info.value.path.endswith("match_feature." + field), info.value.path

