"""Issue 28's kinds beside the column code: the retrieval leak check, easyrank.stats, table
meanings and memory estimates see them (samples/configs/movielens_features.config)."""

import os

import easyrank  # noqa: F401

# isort: split
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.protos import feature_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLE = os.path.join(ROOT, "samples", "configs", "movielens_features.config")


def test_the_retrieval_leak_check_sees_every_input_of_issue_28s_kinds():
    from easyrank.config.retrieval_validation import feature_inputs
    texts = ['expr_feature { name: "x" expression: "a / max(b, 1)" }',
             'overlap_feature { name: "o" left_input: "q" right_input: "t" }',
             'match_feature { name: "m" map_input: "mm" key_input: "k" secondary_key_input: "s" }',
             'text_feature { name: "w" input_name: "title" }']
    inputs = feature_inputs([text_format.Parse(t, feature_pb2.FeatureConfig()) for t in texts])
    assert inputs == {"x": {"a", "b"}, "o": {"q", "t"}, "m": {"mm", "k", "s"}, "w": {"title"}}


def test_stats_tool_skips_kinds_without_statistics():
    # easyrank.stats looks for vocab_from_data; kinds without that field (cross, lookup, vector and
    # issue 28's) have nothing left to the data instead of failing on HasField.
    from easyrank.statistics.compute import wanted
    config = config_lib.load_config(SAMPLE)
    assert wanted(config) == []


def test_table_meanings_and_memory_cover_issue_28s_tables():
    from easyrank.config.validation import embedding_tables
    from easyrank.training import embedding_rows
    config = config_lib.load_config(SAMPLE)
    meanings = {name: m.kind for name, m in embedding_rows.table_meanings(config).items()}
    assert meanings["genre_seen"] == meanings["log_popularity"] == embedding_rows.BUCKETS
    assert meanings["rating_value"] == embedding_rows.LINEAR and meanings["genre_words"] == embedding_rows.HASH
    assert "genre_overlap" not in meanings and "pos_rate_gap" not in meanings  # numbers: no table
    tables = embedding_tables(config.feature_configs)
    assert tables["genre_seen"][:2] == (7, 8) and tables["rating_value"][:2] == (1, 4)
    assert tables["genre_words"][:2] == (100, 8) and "genre_overlap" not in tables
