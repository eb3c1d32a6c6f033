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


def test_float_vector_input_passes_through_and_is_projected():
    col = column('vector_feature { name: "x" dimension: 3 embedding_dim: 2 }')
    values = tf.constant([[0.5, -1, 0.2], [1, 2, 3]], tf.float32)
    matrix = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_allclose(col({"x": values}, {"x": tf.constant(matrix)}).numpy(), values.numpy() @ matrix,
                               rtol=1e-6)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=r"\[\?,3\]"):
        col.parse(tf.zeros([2, 2]))  # a [B, 2] input for dimension 3


VECTOR_FIELD_BASE = """
data_config { format: TFRECORD input_fields { name: "emb" type: FLOAT length: 3 } }
feature_configs { vector_feature { name: "emb" dimension: 3 embedding_dim: 2 } }
"""


def vector_field_config(edit=""):
    config = config_lib.parse_config(open(BASE, encoding="utf-8").read(), "base.config")
    return text_format.Merge(VECTOR_FIELD_BASE + edit, config)


def test_float_list_vector_field_passes_validation():
    config_lib.validate(vector_field_config())


@pytest.mark.parametrize("edit, field", [
    ('data_config { input_fields { name: "v2" type: STRING length: 3 } }', "input_fields[5].length"),
    ('data_config { input_fields { name: "v2" type: FLOAT length: -1 } }', "input_fields[5].length"),
    ('data_config { input_fields { name: "v2" type: FLOAT length: 3 } format: CSV }', "input_fields[4].length"),
    ('feature_configs { raw_feature { name: "r" input_name: "emb" } }', "raw_feature"),
    ('feature_configs { vector_feature { name: "v" input_name: "emb" dimension: 4 } }', "dimension"),
    ('model_config { tasks { name: "t2" label: "income_gt_50k" sample_weight_field: "emb" } }', "sample_weight_field"),
])
def test_bad_float_list_vectors_are_config_errors(edit, field):
    with pytest.raises(ConfigError) as info:
        config_lib.validate(vector_field_config(edit))
    assert info.value.path.endswith(field), (info.value.path, str(info.value))
