"""Vocabulary files are read as TensorFlow's TextFileInitializer reads them (issue 29)."""

import easyrank  # noqa: F401

# isort: split
import pytest
import tensorflow as tf

from easyrank.errors import ConfigError
from easyrank.features.columns import _check_vocab_file
from easyrank.io import files

FIELD = "feature_configs[0].id_feature.vocab_file"


def test_form_feed_line_separator_and_carriage_returns_count_as_tensorflow_counts(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("a\x0cb\nc\u2028d\ne\r\nf\rg\nh\n".encode("utf-8"))
    expected = ["a\x0cb", "c\u2028d", "e", "f\rg", "h"]  # str.splitlines: 8 entries
    assert files.vocabulary_lines(str(path)) == expected
    assert _check_vocab_file(str(path), FIELD) == 5
    init = tf.lookup.TextFileInitializer(str(path), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                         tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
    table = tf.lookup.StaticHashTable(init, -1)
    assert int(table.size()) == 5
    assert table.lookup(tf.constant(expected)).numpy().tolist() == [0, 1, 2, 3, 4]


def test_an_empty_line_is_a_config_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\n\nb\n")
    with pytest.raises(ConfigError, match=r"vocab.txt line 2 is empty: TensorFlow's vocabulary "
                                          "tables refuse empty lines"):
        _check_vocab_file(str(path), FIELD)
