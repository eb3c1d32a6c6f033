"""text_feature (issue 28): tokens by an RE2 pattern, embedded and pooled, against Python."""

import os
import re

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
TEXTS = ["Hello, world!", "", "  a-b  c ", "Bachelors degree(BA AB BS)", "x,,y..z", "ÉCOLE école"]
VOCAB = ["hello", "world", "a", "b", "c", "x", "y", "z", "école", "bs"]


def python_tokens(text, pattern=r"[\s,.!()-]+", lowercase=True, max_tokens=0):
    tokens = [t for t in re.split(pattern, text.lower() if lowercase else text) if t]
    return tokens[:max_tokens] if max_tokens else tokens


def column(extra):
    text = f'text_feature {{ name: "x" embedding_dim: 3 {extra} }}'
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


@pytest.mark.parametrize("combiner, max_tokens", [("MEAN", 0), ("SUM", 0), ("SUM", 2)])
def test_tokens_and_pooling_match_python(combiner, max_tokens):
    vocab = ", ".join(f'"{v}"' for v in VOCAB)
    col = column(f'vocab_list: [{vocab}] split_pattern: "[\\\\s,.!()-]+" combiner: {combiner} '
                 f"max_tokens: {max_tokens}")
    table = np.random.default_rng(0).normal(size=(len(VOCAB) + 1, 3)).astype(np.float32)
    out = col({"x": tf.constant(TEXTS)}, {"x": tf.constant(table)}).numpy()
    for text, row in zip(TEXTS, out):
        ids = [VOCAB.index(t) if t in VOCAB else len(VOCAB) for t in python_tokens(text, max_tokens=max_tokens)]
        want = table[ids].sum(0) if ids else np.zeros(3)
        if combiner == "MEAN" and ids:
            want = want / len(ids)
        np.testing.assert_allclose(row, want, rtol=1e-5, atol=1e-6)


def test_default_pattern_splits_on_space_punctuation_and_symbols():
    col = column("hash_bucket_size: 100")
    got = col.tokens(tf.constant(["Sci-Fi|War, 1990s!", "Ünïcode  WORDS+more", ""])).to_list()
    assert got == [[b"sci", b"fi", b"war", b"1990s"], ["ünïcode".encode(), b"words", b"more"], []]
    hashed = col({"x": tf.constant(["a b", ""])}, {"x": tf.ones([100, 3])}).numpy()
    np.testing.assert_allclose(hashed, [[1, 1, 1], [0, 0, 0]])
    assert col.table_spec() == ("x", 100, 3)


@pytest.mark.parametrize("text, field", [
    ('name: "age" hash_bucket_size: 10', "name"),  # not a STRING field
    ('name: "sex" hash_bucket_size: 10 vocab_list: ["a"]', ""),
    ('name: "sex" hash_bucket_size: 10 split_pattern: "(["', "split_pattern"),
    ('name: "sex" hash_bucket_size: 10 split_pattern: "\\\\s*"', "split_pattern"),  # matches ""
    ('name: "sex" hash_bucket_size: 10 max_tokens: -1', "max_tokens"),
])
def test_bad_text_features_are_config_errors_naming_the_field(text, field):
    config = open(BASE, encoding="utf-8").read().replace(
        'feature_configs { id_feature { name: "sex"', 'feature_configs { id_feature { name: "sex2" input_name: "sex"')
    config = config.replace('"education", "sex"]', '"education", "sex2"]')
    config += f"\nfeature_configs {{ text_feature {{ {text} }} }}\n"
    if field == "name":
        config = config.replace('raw_feature { name: "age"', 'raw_feature { name: "age2" input_name: "age"')
        config = config.replace('["age",', '["age2",')
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config_lib.parse_config(config, "base.config"))
    assert info.value.path == "feature_configs[3].text_feature" + (f".{field}" if field else ""), info.value
