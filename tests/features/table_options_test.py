"""Weighted tags, per-table initializer, frozen and pretrained tables, dense L2."""

import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.embeddings import initializers
from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups
from easyrank.features.builder import build_columns
from easyrank.models import build_model
from easyrank.protos import feature_pb2

BASE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "base.config")


def layer(*texts, group=("x",), **kwargs):
    columns = build_columns([text_format.Parse(t, feature_pb2.FeatureConfig()) for t in texts])
    return FeatureGroups(columns, [("g", list(group))], **kwargs)


def test_weighted_tags_in_the_values_and_in_a_parallel_field():
    for text, features in [
        ('tag_feature { name: "x" vocab_list: ["a", "b", "c"] embedding_dim: 2 kv_separator: ":" combiner: MEAN }',
         {"x": tf.constant(["a:0.3|b:0.7", "c", "", "b:2|c:0.5"])}),
        ('tag_feature { name: "x" vocab_list: ["a", "b", "c"] embedding_dim: 2 weight_input: "w" combiner: MEAN }',
         {"x": tf.constant(["a|b", "c", "", "b|c"]), "w": tf.constant(["0.3|0.7", "", "", "2|0.5"])}),
        # is_list inputs (tf.Example bytes_list, Parquet list): [B, N] padded with "".
        ('tag_feature { name: "x" vocab_list: ["a", "b", "c"] embedding_dim: 2 weight_input: "w" combiner: MEAN }',
         {"x": tf.constant([["a", "b"], ["c", ""], ["", ""], ["b", "c"]]),
          "w": tf.constant([["0.3", "0.7"], ["", ""], ["", ""], ["2", "0.5"]])}),
    ]:
        groups = layer(text)
        out = groups(features)["g"].concat.numpy()
        table = groups.tables["x"].numpy()
        expected = [(0.3 * table[0] + 0.7 * table[1]) / 1.0, table[2], np.zeros(2),
                    (2 * table[1] + 0.5 * table[2]) / 2.5]
        np.testing.assert_allclose(out, np.array(expected), rtol=1e-5, atol=1e-7)


def test_weighted_sum_and_bad_weights():
    groups = layer('tag_feature { name: "x" vocab_list: ["a", "b"] embedding_dim: 2 kv_separator: ":" combiner: SUM }')
    out = groups({"x": tf.constant(["a:2|b:-1"])})["g"].concat.numpy()
    table = groups.tables["x"].numpy()
    np.testing.assert_allclose(out[0], 2 * table[0] - table[1], rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="weight is not a number"):
        groups({"x": tf.constant(["a:heavy"])})


def test_pretrained_frozen_table_and_initializer(tmp_path):
    pretrained = tmp_path / "vectors.txt"
    pretrained.write_text("1 2 3\n4,5,6\n")
    groups = layer(f'id_feature {{ name: "x" vocab_list: ["p", "q", "r"] embedding_dim: 3 '
                   f'embedding {{ pretrained_file: "{pretrained}" trainable: false }} }}',
                   'id_feature { name: "y" hash_bucket_size: 4000 embedding_dim: 8 embedding { init_stddev: 0.5 } }',
                   group=("x", "y"))
    groups({"x": tf.constant(["p"]), "y": tf.constant(["a"])})
    table = groups.tables["x"].numpy()
    np.testing.assert_array_equal(table[:2], [[1, 2, 3], [4, 5, 6]])
    assert np.all(np.abs(table[2:]) <= 0.05)  # the rows the file does not cover keep the initializer
    assert not groups.tables["x"].trainable and groups.tables["y"].trainable
    assert groups.tables["x"] not in groups.trainable_weights
    std = groups.tables["y"].numpy().std()
    assert 0.35 < std < 0.5  # truncated normal of stddev 0.5 has std 0.44


def test_zeros_default_keeps_explicit_initializers_and_pretrained_rows(tmp_path):
    pretrained = tmp_path / "vectors.txt"
    pretrained.write_text("1 2 3\n4,5,6\n")
    groups = layer('id_feature { name: "x" hash_bucket_size: 50 embedding_dim: 3 }',
                   'id_feature { name: "y" hash_bucket_size: 4000 embedding_dim: 8 embedding { init_stddev: 0.5 } }',
                   f'id_feature {{ name: "z" vocab_list: ["p", "q", "r"] embedding_dim: 3 '
                   f'embedding {{ pretrained_file: "{pretrained}" }} }}',
                   group=("x", "y", "z"), default_table_init=initializers.ZEROS)
    groups({"x": tf.constant(["a"]), "y": tf.constant(["a"]), "z": tf.constant(["p"])})
    np.testing.assert_array_equal(groups.tables["x"].numpy(), np.zeros((50, 3)))
    assert 0.35 < groups.tables["y"].numpy().std() < 0.5
    np.testing.assert_array_equal(groups.tables["z"].numpy(), [[1, 2, 3], [4, 5, 6], [0, 0, 0], [0, 0, 0]])
    uniform = layer('id_feature { name: "x" hash_bucket_size: 50 embedding_dim: 3 }')
    uniform({"x": tf.constant(["a"])})
    table = uniform.tables["x"].numpy()
    assert np.all(np.abs(table) <= 0.05) and np.all(np.abs(table).sum(axis=1) > 0)
    np.testing.assert_array_equal(initializers.random_rows([2, 3], [0, 1], default=initializers.ZEROS), 0.0)
    with pytest.raises(ValueError, match="'ones'"):
        layer('id_feature { name: "x" hash_bucket_size: 50 embedding_dim: 3 }', default_table_init="ones")


@pytest.mark.parametrize("embedding, message", [
    ('pretrained_file: "/nope.txt"', "cannot read"),
    ('pretrained_file: "{bad}"', "one row of 3 numbers"),
    ('pretrained_file: "{long}"', "at most 3 rows"),
])
def test_bad_pretrained_files_are_config_errors(embedding, message, tmp_path):
    (tmp_path / "bad.txt").write_text("1 2 3\n4\n")
    (tmp_path / "long.txt").write_text("1 2 3\n" * 4)
    embedding = embedding.format(bad=tmp_path / "bad.txt", long=tmp_path / "long.txt")
    with pytest.raises(ConfigError, match=message) as info:
        layer(f'id_feature {{ name: "x" vocab_list: ["p", "q"] embedding_dim: 3 embedding {{ {embedding} }} }}')
    assert info.value.path.endswith("embedding.pretrained_file")


def test_pretrained_hashed_table_is_refused():
    with pytest.raises(ConfigError, match="fixed meaning"):
        layer('id_feature { name: "x" hash_bucket_size: 10 embedding_dim: 3 embedding { pretrained_file: "f" } }')


def test_dense_l2_adds_the_kernel_norm_to_the_training_loss():
    config = config_lib.load_config(BASE, {"model_config.dense_l2": 0.01})
    model = build_model(config)
    tables = {id(t) for t in model.feature_groups.tables.values()}
    kernels = [v for v in model.trainable_variables if v.shape.rank >= 2 and id(v) not in tables]
    assert kernels and float(model.dense_kernel_norm()) == pytest.approx(
        sum(float(np.sum(np.square(v.numpy()))) for v in kernels), rel=1e-5)
