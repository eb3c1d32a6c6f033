"""Vector features: a fixed-length list of numbers in one string, used as is or projected."""

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


def column(text):
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


def test_vector_is_parsed_and_projected():
    col = column('vector_feature { name: "x" dimension: 3 embedding_dim: 2 }')
    values = tf.constant(["0.5,-1,2e-1", "", " 1, 2 ,3"])
    expected = np.array([[0.5, -1, 0.2], [0, 0, 0], [1, 2, 3]], np.float32)
    np.testing.assert_allclose(col.parse(values).numpy(), expected)
    matrix = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_allclose(col({"x": values}, {"x": tf.constant(matrix)}).numpy(), expected @ matrix,
                               rtol=1e-6)
    assert col.table_spec() == ("x", 3, 2) and col.width == 2


def test_vector_without_projection_and_custom_separator():
    col = column('vector_feature { name: "x" dimension: 2 separator: ";" }')
    np.testing.assert_allclose(col({"x": tf.constant(["1;2", "3;4"])}, {}).numpy(), [[1, 2], [3, 4]])
    assert col.table_spec() is None and col.width == 2


@pytest.mark.parametrize("bad", ["1,2", "1,2,3,4", "1,x,3"])
def test_wrong_length_or_non_numbers_fail_naming_the_feature(bad):
    col = column('vector_feature { name: "x" dimension: 3 }')
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        col.parse(tf.constant(["1,2,3", bad]))
    assert "vector feature 'x'" in info.value.message or "convert" in info.value.message


@pytest.mark.parametrize("vector, field", [
    ('input_name: "age" dimension: 3', "vector_feature"),
    ('input_name: "education" dimension: 0', "dimension"),
    ('input_name: "education" dimension: 3 embedding_dim: -1', "embedding_dim"),
])
def test_bad_vectors_are_config_errors(vector, field):
    text = open(BASE, encoding="utf-8").read() + f'\nfeature_configs {{ vector_feature {{ name: "x" {vector} }} }}\n'
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "base.config"))
    assert info.value.path.endswith(field), info.value.path


def test_valid_vector_lookup_and_cross_features_pass_validation():
    text = open(BASE, encoding="utf-8").read() + """
feature_configs { vector_feature { name: "v" input_name: "education" dimension: 3 embedding_dim: 4 } }
feature_configs { lookup_feature { name: "l" map_input: "education" key_input: "sex" } }
feature_configs { lookup_feature { name: "li" map_input: "education" key_input: "sex" hash_bucket_size: 7 } }
feature_configs { cross_feature { name: "x" input_names: ["education", "sex"] hash_bucket_size: 10 } }
"""
    config_lib.validate(config_lib.parse_config(text, "base.config"))
    from easyrank.config.validation import embedding_tables
    tables = embedding_tables(config_lib.parse_config(text).feature_configs)
    assert tables["v"][:2] == (3, 4) and tables["li"][0] == 7 and "l" not in tables and tables["x"][0] == 10
