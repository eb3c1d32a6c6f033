"""easyrank.stats on hostile input: empty data, outputs it must not or cannot write, feature
names that are not file names. Each fails before the pass (or before writing) with nothing written."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest
from stats_tool_test import write_input

from easyrank.errors import ConfigError, DataError
from easyrank.statistics import write_filled_config
from easyrank.statistics.compute import vocab_file_name


def test_empty_input_writes_nothing(tmp_path):
    source = write_input(tmp_path, "CSV")
    train = tmp_path / "train.csv"
    train.write_text(train.read_text().splitlines()[0] + "\n")  # header only
    out = tmp_path / "out" / "filled.config"
    with pytest.raises(DataError, match="the input has no rows"):
        write_filled_config(source, str(out))
    assert not out.exists() and not os.listdir(tmp_path / "out" / "vocab")


def test_a_vocabulary_that_would_be_empty_is_a_data_error(tmp_path):
    source = write_input(tmp_path, "CSV")
    text = open(source).read().replace("min_count: 2", "min_count: 100000")
    open(source, "w").write(text)
    out = tmp_path / "filled.config"
    with pytest.raises(DataError, match=r"feature 'city' \(feature_configs\[2\]\): no value is seen "
                                        r"at least vocab_from_data.min_count 100000 times"):
        write_filled_config(source, str(out))
    assert not out.exists()


def test_output_config_equal_to_the_input_is_refused(tmp_path):
    source = write_input(tmp_path, "CSV")
    before = open(source).read()
    with pytest.raises(ConfigError) as error:
        write_filled_config(source, os.path.join(str(tmp_path), ".", "in.config"))
    assert error.value.path == "--output_config" and "is the input config" in str(error.value)
    assert open(source).read() == before


@pytest.mark.parametrize("output, vocab, flag", [
    ("blocker/filled.config", None, "--output_config"),  # a file where a directory must be
    ("filled.config", "blocker/vocab", "--vocab_dir"),
    ("out_dir", None, "--output_config"),  # a directory where the file must be
])
def test_unwritable_outputs_fail_before_the_pass(tmp_path, output, vocab, flag):
    source = write_input(tmp_path, "CSV")
    (tmp_path / "blocker").write_text("")
    (tmp_path / "out_dir").mkdir()
    os.remove(tmp_path / "train.csv")  # the pass would fail later, on the missing file
    with pytest.raises(ConfigError) as error:
        write_filled_config(source, str(tmp_path / output), vocab and str(tmp_path / vocab))
    assert error.value.path == flag


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", "c:\\d", "\u00e9t\u00e9"])
def test_feature_names_become_safe_distinct_file_names(name):
    file_name = vocab_file_name(name)
    assert "/" not in file_name and "\\" not in file_name and not file_name.startswith(".")
    assert vocab_file_name("city") == "city.txt"
    assert vocab_file_name("a/b") != vocab_file_name("a_b")


def test_a_feature_named_like_a_path_is_refused_before_any_vocabulary_is_written(tmp_path):
    """A name like '../../evil' is refused by the config check (file, line, field) before the
    pass; vocab_file_name (above) keeps names inside vocab_dir for any name that passes it."""
    source = write_input(tmp_path, "CSV")
    text = open(source).read().replace('id_feature { name: "city"',
                                       'id_feature { name: "../../evil" input_name: "city"')
    text = text.replace('"city", "tags"]', '"../../evil", "tags"]')
    open(source, "w").write(text)
    out = tmp_path / "out" / "filled.config"
    with pytest.raises(ConfigError, match=r"in\.config:\d+: feature_configs\[\d\]\.id_feature\.name: "
                                          r"'\.\./\.\./evil' is not a usable name"):
        write_filled_config(source, str(out))
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "evil.txt").exists()
