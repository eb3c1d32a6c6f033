"""The feature-kind registry (easyrank/config/feature_kinds): complete, and what each kind
declares about its table, its statistics and its inputs (issue 28)."""

import os

import easyrank  # noqa: F401

# isort: split
import pytest
from google.protobuf import text_format

from easyrank.config.feature_kinds import KINDS, embedding_tables, spec, table_specs
from easyrank.protos import feature_pb2, pipeline_pb2

ONEOF = feature_pb2.FeatureConfig.DESCRIPTOR.oneofs_by_name["feature"]


def test_every_feature_kind_has_a_registry_entry_and_vice_versa():
    assert sorted(f.name for f in ONEOF.fields) == sorted(KINDS)
    for name, kind in KINDS.items():
        assert kind.oneof == name
        assert callable(kind.validate) and callable(kind.table) and callable(kind.inputs)


def _features(text):
    config = text_format.Parse(text, pipeline_pb2.PipelineConfig())
    return config.feature_configs


FEATURES = _features("""
feature_configs { id_feature { name: "user" hash_bucket_size: 100 embedding_dim: 8 } }
feature_configs { id_feature { name: "age_id" num_buckets: 10 embedding_dim: 4 } }
feature_configs { id_feature { name: "city" vocab_list: ["a", "b", "c"] num_oov_buckets: 2 } }
feature_configs { id_feature { name: "movie" vocab_file: "v.txt" embedding_dim: 8 } }
feature_configs { tag_feature { name: "genres" dynamic { capacity: 50 } embedding_dim: 8
                                weight_input: "genre_weights" } }
feature_configs { sequence_feature { name: "hist" input_name: "history" hash_bucket_size: 100
                                     embedding_name: "user" embedding_dim: 8 } }
feature_configs { raw_feature { name: "price" boundaries: [1, 2, 3] embedding_dim: 4 } }
feature_configs { raw_feature { name: "age" } }
feature_configs { raw_feature { name: "income" embedding_dim: 3 } }
feature_configs { cross_feature { name: "x" input_names: ["user", "city"] hash_bucket_size: 1000 } }
feature_configs { lookup_feature { name: "clicks" map_input: "m" key_input: "k" } }
feature_configs { lookup_feature { name: "cat" map_input: "m" key_input: "k" hash_bucket_size: 7
                                   embedding_dim: 2 } }
feature_configs { vector_feature { name: "img" dimension: 32 embedding_dim: 8 } }
feature_configs { vector_feature { name: "txt" dimension: 32 } }
feature_configs { match_feature { name: "m_w" map_input: "prefs" key_input: "cat" secondary_key_input: "brand"
                                  boundaries: [0.1, 0.5] embedding_dim: 6 } }
feature_configs { match_feature { name: "m_n" map_input: "prefs" key_input: "cat" } }
feature_configs { overlap_feature { name: "ov" left_input: "query" right_input: "title" right_separator: " "
                                    boundaries: [1, 2, 3] embedding_dim: 2 } }
feature_configs { expr_feature { name: "ex" expression: "a / max(b, 1) + log(a)" } }
feature_configs { text_feature { name: "words" input_name: "title" hash_bucket_size: 50 embedding_dim: 4 } }
feature_configs { text_feature { name: "words_v" vocab_list: ["x", "y"] num_oov_buckets: 3 } }
feature_configs { sequence_numeric_feature { name: "hist_price" sequence: "hist" embedding_dim: 5 } }
feature_configs { sequence_numeric_feature { name: "hist_gap" sequence: "hist" boundaries: [1, 10]
                                             embedding_dim: 3 } }
feature_configs { sequence_numeric_feature { name: "hist_dwell" sequence: "hist" } }
""")


def test_each_kind_declares_its_table_rows_width_and_meaning():
    tables = {}
    for name, t, _, _ in table_specs(FEATURES):  # the first feature of a shared table wins
        tables.setdefault(name, (t.rows, t.dim, t.rows_field.split(".", 1)[1], t.meaning))
    assert tables == {
        "user": (100, 8, "id_feature.hash_bucket_size", spec.HASH),
        "age_id": (11, 4, "id_feature.num_buckets", spec.IDENTITY),  # + the out-of-range row
        "city": (5, 16, "id_feature.vocab_list", spec.VOCAB),  # 3 entries + 2 OOV rows
        "movie": (0, 8, "id_feature", spec.VOCAB),  # a vocab_file: counted when built
        "genres": (51, 8, "tag_feature.dynamic.capacity", spec.HASH),  # + the default row
        "price": (4, 4, "raw_feature.boundaries", spec.BUCKETS),
        "income": (1, 3, "raw_feature.embedding_dim", spec.LINEAR),
        "x": (1000, 16, "cross_feature.hash_bucket_size", spec.HASH),
        "cat": (7, 2, "lookup_feature.hash_bucket_size", spec.HASH),
        "img": (32, 8, "vector_feature.dimension", spec.LINEAR),
        "m_w": (3, 6, "match_feature.boundaries", spec.BUCKETS),
        "ov": (4, 2, "overlap_feature.boundaries", spec.BUCKETS),
        "words": (50, 4, "text_feature.hash_bucket_size", spec.HASH),
        "words_v": (5, 16, "text_feature.vocab_list", spec.VOCAB),  # 2 entries + 3 OOV rows
        "hist_price": (1, 5, "sequence_numeric_feature.embedding_dim", spec.LINEAR),  # a [1, D] map
        "hist_gap": (3, 3, "sequence_numeric_feature.boundaries", spec.BUCKETS),
    }  # "hist" shares "user"; age, clicks, txt, m_n, ex and hist_dwell (numbers) have no table
    assert [n for n, *_ in table_specs(FEATURES)].count("user") == 2
    sizes = embedding_tables(FEATURES)
    assert sizes["user"] == (100, 8, "feature_configs[0].id_feature.hash_bucket_size")
    assert "movie" not in sizes and sizes["genres"][0] == 51


def test_each_kind_names_the_inputs_it_reads_and_their_separators():
    reads = {f.WhichOneof("feature") + ":" + getattr(f, f.WhichOneof("feature")).name:
             KINDS[f.WhichOneof("feature")].inputs(getattr(f, f.WhichOneof("feature"))) for f in FEATURES}
    assert reads["id_feature:user"] == [("user", None)]
    assert reads["tag_feature:genres"] == [("genres", "|"), ("genre_weights", "|")]
    assert reads["sequence_feature:hist"] == [("history", ";")]
    assert reads["cross_feature:x"] == [("user", None), ("city", None)]
    assert reads["lookup_feature:clicks"] == [("m", "|"), ("k", None)]
    assert reads["vector_feature:img"] == [("img", ",")]
    assert reads["match_feature:m_w"] == [("prefs", "|"), ("cat", None), ("brand", None)]
    assert reads["overlap_feature:ov"] == [("query", "|"), ("title", " ")]
    assert reads["expr_feature:ex"] == [("a", None), ("b", None)]  # each field once, in order
    assert reads["text_feature:words"] == [("title", None)]  # one string, split in the graph
    assert reads["sequence_numeric_feature:hist_price"] == [("hist_price", ";")]
    bad = _features('feature_configs { expr_feature { name: "e" expression: "a +" } }')[0]
    assert KINDS["expr_feature"].inputs(bad.expr_feature) == []  # validate reports the syntax error


@pytest.mark.parametrize("text, wanted", [
    ('raw_feature { name: "a" normalizer { compute_from_data: Z_SCORE } }', spec.NUMBERS),
    ('raw_feature { name: "a" boundaries_from_quantiles: 4 embedding_dim: 4 }', spec.NUMBERS),
    ('raw_feature { name: "a" }', None),
    ('id_feature { name: "a" vocab_from_data {} }', spec.TOKENS),
    ('id_feature { name: "a" hash_bucket_size: 4 }', None),
    ('sequence_feature { name: "a" vocab_from_data { min_count: 2 } }', spec.TOKENS),
    ('cross_feature { name: "a" input_names: ["b", "c"] hash_bucket_size: 4 }', None),
    ('match_feature { name: "a" map_input: "m" key_input: "k" }', None),
    ('overlap_feature { name: "a" left_input: "l" right_input: "r" }', None),
    ('expr_feature { name: "a" expression: "b + 1" }', None),
    ('text_feature { name: "a" hash_bucket_size: 4 }', None),
    ('sequence_numeric_feature { name: "a" sequence: "s" }', None),
])
def test_each_kind_says_what_it_leaves_to_the_data(text, wanted):
    wrapper = _features(f"feature_configs {{ {text} }}")[0]
    kind = KINDS[wrapper.WhichOneof("feature")]
    feature = getattr(wrapper, kind.oneof)
    got = kind.statistics.values if kind.statistics and kind.statistics.wanted(feature) else None
    assert got == wanted


def test_the_statistics_ask_only_the_kinds_that_leave_something_to_the_data():
    from easyrank.statistics import compute

    config = text_format.Parse("""
    feature_configs { cross_feature { name: "x" input_names: ["a", "b"] hash_bucket_size: 4 } }
    feature_configs { tag_feature { name: "t" vocab_from_data {} } }
    feature_configs { lookup_feature { name: "l" map_input: "m" key_input: "k" } }
    feature_configs { raw_feature { name: "r" normalizer { compute_from_data: MIN_MAX } } }
    """, pipeline_pb2.PipelineConfig())
    # A cross or lookup feature has no vocab_from_data field: asking it used to raise ValueError.
    assert [(p, k) for p, k, _ in compute.wanted(config)] == [
        ("feature_configs[1]", "tag_feature"), ("feature_configs[3]", "raw_feature")]
    assert compute.writes_vocabulary("tag_feature") and not compute.writes_vocabulary("raw_feature")


def test_every_feature_kind_has_a_column_builder():
    from easyrank.features import builder

    assert sorted(builder.COLUMNS) == sorted(KINDS)


def test_the_inputs_serving_and_retrieval_see_are_the_kinds_inputs():
    from easyrank.config.retrieval_validation import feature_inputs
    from easyrank.serving.predictor import list_separators

    config = pipeline_pb2.PipelineConfig()
    config.feature_configs.extend(FEATURES)
    assert list_separators(config) == {"genres": "|", "genre_weights": "|", "history": ";", "m": "|",
                                       "img": ",", "txt": ",", "prefs": "|", "query": "|", "title": " ",
                                       "hist_price": ";", "hist_gap": ";", "hist_dwell": ";"}
    inputs = feature_inputs(FEATURES)
    assert inputs["genres"] == {"genres", "genre_weights"}  # the weights are read too
    assert inputs["x"] == {"user", "city"} and inputs["clicks"] == {"m", "k"} and inputs["hist"] == {"history"}
    assert inputs["m_w"] == {"prefs", "cat", "brand"} and inputs["ov"] == {"query", "title"}
    assert inputs["ex"] == {"a", "b"} and inputs["words"] == {"title"}


def test_checks_across_features_run_for_the_kinds_that_declare_them():
    from easyrank import config as config_lib
    from easyrank.config.feature_kinds import validate_across
    from easyrank.errors import ConfigError

    assert [k for k, kind in KINDS.items() if kind.validate_across] == ["sequence_numeric_feature"]
    config = pipeline_pb2.PipelineConfig()
    config.feature_configs.extend(FEATURES)
    validate_across(config)  # every side information feature names the sequence "hist"
    config.feature_configs[-1].sequence_numeric_feature.sequence = "user"
    with pytest.raises(ConfigError) as info:
        validate_across(config)
    assert info.value.path == f"feature_configs[{len(FEATURES) - 1}].sequence_numeric_feature.sequence"
    # The sample with every kind: its tables and what easyrank.stats leaves to the data.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sample = config_lib.load_config(os.path.join(root, "samples", "configs", "movielens_features.config"))
    tables = {name: (t.rows, t.dim, t.meaning) for name, t, _, _ in table_specs(sample.feature_configs)}
    assert tables["genre_seen"] == (7, 8, spec.BUCKETS) and tables["rating_value"] == (1, 4, spec.LINEAR)
    assert tables["genre_words"] == (100, 8, spec.HASH) and "genre_overlap" not in tables
    from easyrank.statistics import compute
    assert compute.wanted(sample) == []
