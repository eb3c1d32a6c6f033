"""Lookup features: the value of a map field at the row's key, as a number or an embedded id."""

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
MAPS = ["sports:3|music:1", "music:2.5", "", "sports:x|sports:4", "news:1|sports:", "sports:7:8|a:1"]
KEYS = ["sports", "sports", "sports", "sports", "sports", "sports"]


def python_lookup(text, key, default):
    """The first value of `key` in "k:v|k:v", or `default`."""
    for pair in text.split("|") if text else []:
        k, _, v = pair.partition(":")
        if k == key:
            return v
    return default


def column(text):
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


def test_lookup_values_match_python():
    col = column('lookup_feature { name: "x" map_input: "m" key_input: "k" default_value: "-1" }')
    got = col.lookup(tf.constant(MAPS), tf.constant(KEYS)).numpy().astype(str).tolist()
    assert got == [python_lookup(m, k, "-1") for m, k in zip(MAPS, KEYS)]


def test_numeric_lookup_with_normalizer_and_bad_numbers():
    col = column('lookup_feature { name: "x" map_input: "m" key_input: "k" default_value: "-1" '
                 'normalizer { log1p: true } }')
    out = col({"m": tf.constant(MAPS), "k": tf.constant(KEYS)}, {}).numpy()
    values = []
    for m, k in zip(MAPS, KEYS):
        v = python_lookup(m, k, "-1")
        try:
            values.append(float(v))
        except ValueError:
            values.append(-1.0)  # not a number: counts as absent
    np.testing.assert_allclose(out[:, 0], np.log1p(np.maximum(values, 0)), rtol=1e-6)
    assert out.shape == (6, 1) and col.table_spec() is None


def test_int64_keys_and_id_lookup():
    col = column('lookup_feature { name: "x" map_input: "m" key_input: "k" default_value: "none" '
                 'hash_bucket_size: 97 embedding_dim: 2 }')
    maps, keys = tf.constant(["1:a|2:b", "2:c", ""]), tf.constant([2, 2, 5], tf.int64)
    table = tf.constant(np.arange(194, dtype=np.float32).reshape(97, 2))
    out = col({"m": maps, "k": keys}, {"x": table}).numpy()
    ids = tf.strings.to_hash_bucket_fast(["b", "c", "none"], 97).numpy()
    np.testing.assert_array_equal(out, table.numpy()[ids])
    assert col.table_spec() == ("x", 97, 2)


@pytest.mark.parametrize("lookup, field", [
    ('map_input: "nope" key_input: "sex"', "map_input"),
    ('map_input: "age" key_input: "sex"', "map_input"),
    ('map_input: "education" key_input: "age"', "key_input"),
    ('map_input: "education" key_input: "sex" default_value: "n/a"', "default_value"),
    ('map_input: "education" key_input: "sex" kv_separator: "|"', "kv_separator"),
])
def test_bad_lookups_are_config_errors_naming_the_field(lookup, field):
    text = open(BASE, encoding="utf-8").read() + f'\nfeature_configs {{ lookup_feature {{ name: "x" {lookup} }} }}\n'
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "base.config"))
    assert info.value.path.endswith("lookup_feature." + field), info.value.path
