"""overlap_feature (issue 28): shared tokens of two fields, against Python sets."""

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
LEFT = ["Comedy|Drama", "Action", "", "a|b|c|a", "x|y", "Sci-Fi|War"]
RIGHT = ["Drama;Comedy;Drama", "Drama", "Drama", "c;d", "", "war;sci-fi;Horror"]


def python_overlap(left, right, method, lowercase=False):
    a = {t.lower() if lowercase else t for t in left.split("|") if t}
    b = {t.lower() if lowercase else t for t in right.split(";") if t}
    common = len(a & b)
    denominator = {"COUNT": 1, "LEFT_RATIO": len(a), "RIGHT_RATIO": len(b), "UNION_RATIO": len(a | b)}[method]
    return common / denominator if denominator else 0.0


def column(extra):
    text = (f'overlap_feature {{ name: "x" left_input: "l" right_input: "r" right_separator: ";" {extra} }}')
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


@pytest.mark.parametrize("method", ["COUNT", "LEFT_RATIO", "RIGHT_RATIO", "UNION_RATIO"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_overlap_matches_python_sets(method, lowercase):
    col = column(f"method: {method} lowercase: {str(lowercase).lower()}")
    out = col({"l": tf.constant(LEFT), "r": tf.constant(RIGHT)}, {}).numpy()
    want = [python_overlap(a, b, method, lowercase) for a, b in zip(LEFT, RIGHT)]
    np.testing.assert_allclose(out[:, 0], want, rtol=1e-6)
    assert out.shape == (6, 1)


def test_list_inputs_all_empty_and_buckets():
    col = column("boundaries: [0.5, 1.5] embedding_dim: 1")
    right = tf.constant([["b", "a", ""], ["", "", ""]])  # an is_list field (tf.Example bytes_list)
    table = tf.constant([[0.0], [1.0], [2.0]])
    out = col({"l": tf.constant(["a|b", ""]), "r": right}, {"x": table}).numpy()
    np.testing.assert_array_equal(out[:, 0], [2, 0])
    empty = column("method: UNION_RATIO")({"l": tf.constant(["", ""]), "r": tf.constant(["", ""])}, {})
    np.testing.assert_array_equal(empty.numpy()[:, 0], [0, 0])


@pytest.mark.parametrize("overlap, field", [
    ('left_input: "age" right_input: "sex"', "left_input"),
    ('left_input: "sex" right_input: "nope"', "right_input"),
    ('left_input: "sex" right_input: "education" left_separator: ""', "left_separator"),
    ('left_input: "sex" right_input: "education" normalizer { mean: 1 }', "normalizer"),
])
def test_bad_overlaps_are_config_errors_naming_the_field(overlap, field):
    text = open(BASE, encoding="utf-8").read() + f'\nfeature_configs {{ overlap_feature {{ name: "x" {overlap} }} }}\n'
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(text, "base.config"))
    assert info.value.path.endswith("overlap_feature." + field), info.value.path
