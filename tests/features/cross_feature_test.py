"""Crossed features: one hashed id per row of the tuple of its inputs, with a table of its own."""

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


def cross_column(text):
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


def test_cross_ids_are_the_hashed_tuple_of_each_row():
    column = cross_column('cross_feature { name: "x" input_names: ["sex", "age"] hash_bucket_size: 1000 '
                         'embedding_dim: 3 }')
    sex = tf.constant(["Male", "Female", "Male", "Male", ""])
    age = tf.constant([30, 30, 31, 30, 30], tf.int64)
    ids = column.index({"sex": sex, "age": age}).numpy()
    for i in range(5):  # the same op on one row at a time: row order and batching do not matter
        one = tf.sparse.cross_hashed([tf.reshape(sex[i], [1, 1]), tf.reshape(tf.strings.as_string(age[i]), [1, 1])],
                                     num_buckets=1000)
        assert ids[i] == one.values.numpy()[0]
    assert ids[0] == ids[3] and len({ids[0], ids[1], ids[2], ids[4]}) == 4
    assert np.all((ids >= 0) & (ids < 1000))
    assert column.table_spec() == ("x", 1000, 3)
    table = tf.constant(np.arange(3000, dtype=np.float32).reshape(1000, 3))
    out = column({"sex": sex, "age": age}, {"x": table}).numpy()
    np.testing.assert_array_equal(out, table.numpy()[ids])


def test_cross_spreads_distinct_tuples_over_buckets():
    column = cross_column('cross_feature { name: "x" input_names: ["a", "b"] hash_bucket_size: 100000 }')
    a = tf.constant([str(i % 50) for i in range(2500)])
    b = tf.constant([str(i // 50) for i in range(2500)])
    ids = column.index({"a": a, "b": b}).numpy()
    assert len(set(ids.tolist())) >= 2450  # 2,500 distinct tuples in 1e5 buckets: few collisions


@pytest.mark.parametrize("cross, field", [
    ('input_names: ["education"] hash_bucket_size: 10', "input_names"),
    ('input_names: ["education", "nope"] hash_bucket_size: 10', "input_names[1]"),
    ('input_names: ["education", "age"] hash_bucket_size: 10', "input_names[1]"),
    ('input_names: ["education", "income_gt_50k"] hash_bucket_size: 10', "input_names[1]"),
    ('input_names: ["education", "sex"]', "hash_bucket_size"),
])
def test_bad_crosses_are_config_errors_naming_the_field(cross, field):
    text = open(BASE, encoding="utf-8").read()
    text += f'\nfeature_configs {{ cross_feature {{ name: "x" {cross} }} }}\n'
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "base.config"))
    assert info.value.path.endswith("cross_feature." + field), info.value.path
