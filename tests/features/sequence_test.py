"""Sequence features and sequence feature groups: parsing, truncation, padding, sharing."""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.data.tfrecord_reader import densify, feature_spec
from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups, SequenceInput, build_columns, shapes_of
from easyrank.features.sequence import split_values, truncate_and_pad
from easyrank.protos import data_pb2, model_pb2, pipeline_pb2

FEATURES = """
feature_configs { id_feature { name: "movie_id" hash_bucket_size: 100 embedding_dim: 4 } }
feature_configs { id_feature { name: "genre" vocab_list: ["Action", "Comedy"] embedding_dim: 2 } }
feature_configs { sequence_feature { name: "hist_movie_id" max_len: 3 hash_bucket_size: 100
                                     embedding_dim: 4 embedding_name: "movie_id" } }
feature_configs { sequence_feature { name: "hist_genre" max_len: 3 vocab_list: ["Action", "Comedy"]
                                     embedding_dim: 2 embedding_name: "genre" } }
"""
GROUPS = """
feature_groups { name: "history" feature_names: ["movie_id", "genre", "hist_movie_id", "hist_genre"] }
feature_groups { name: "pool" feature_names: ["hist_movie_id"] }
feature_groups { name: "item" feature_names: ["movie_id", "genre"] }
"""


def _groups():
    config = text_format.Parse(FEATURES, pipeline_pb2.PipelineConfig())
    model = text_format.Parse(GROUPS, model_pb2.ModelConfig())
    return FeatureGroups(build_columns(config.feature_configs),
                         [(g.name, g.feature_names) for g in model.feature_groups])


def _features(hist_ids, hist_genres):
    return {"movie_id": tf.constant(["7", "8", "9"]),
            "genre": tf.constant(["Comedy", "Action", "Drama"]),
            "hist_movie_id": tf.constant(hist_ids), "hist_genre": tf.constant(hist_genres)}


def test_split_joined_and_list_forms_agree():
    joined = split_values(tf.constant(["1;2;3", "", "4"]), ";")
    listed = split_values(tf.constant([["1", "2", "3"], ["", "", ""], ["4", "", ""]]), ";")
    assert joined.to_list() == listed.to_list() == [[b"1", b"2", b"3"], [], [b"4"]]


def test_truncate_keeps_the_most_recent_and_pads():
    values = tf.ragged.constant([["a", "b", "c", "d"], [], ["x"]])
    padded, lengths = truncate_and_pad(values, 3)
    assert padded.numpy().tolist() == [[b"b", b"c", b"d"], [b"", b"", b""], [b"x", b"", b""]]
    assert lengths.numpy().tolist() == [3, 0, 1]


def test_sequence_group_shapes_masking_and_shared_tables():
    layer = _groups()
    out = layer(_features(["1;2;3;4;5", "", "6"], ["Action;Comedy;Action;Comedy;Action", "", "Drama"]))
    # One table per embedding name: hist_movie_id uses movie_id's, hist_genre uses genre's.
    assert sorted(layer.tables) == ["genre", "movie_id"]
    seq = out["history"].sequence
    assert out["history"].concat is None and out["history"].stacked is None
    assert seq.query.shape == (3, 6) and seq.keys.shape == (3, 3, 6)
    assert seq.lengths.numpy().tolist() == [3, 0, 1]
    table = layer.tables["movie_id"].numpy()
    bucket = tf.strings.to_hash_bucket_fast(["3", "4", "5", "7"], 100).numpy()
    # The last three ids (3, 4, 5), embedded with the shared table; padding rows are zero.
    np.testing.assert_allclose(seq.keys[0, :, :4], table[bucket[:3]])
    np.testing.assert_allclose(seq.query[0, :4], table[bucket[3]])
    np.testing.assert_array_equal(seq.keys[1], np.zeros((3, 6)))
    np.testing.assert_array_equal(seq.keys[2, 1:], np.zeros((2, 6)))
    genre = layer.tables["genre"].numpy()
    np.testing.assert_allclose(seq.keys[0, :, 4:], genre[[0, 1, 0]])  # the last three genres
    np.testing.assert_allclose(seq.keys[2, 0, 4:], genre[2])  # out-of-vocabulary row
    # A group with sequence features only has no query; plain groups are unchanged.
    assert out["pool"].sequence.query is None
    assert out["item"].concat.shape == (3, 6) and out["item"].sequence is None
    # Known before any call, for the config compiler: the same per-example shapes.
    assert layer.output_shapes() == shapes_of(out)
    assert layer.output_shapes()["history"].sequence == SequenceInput((6,), (3, 6), ())


def test_list_input_gives_the_same_group_output():
    layer = _groups()
    joined = layer(_features(["1;2;3;4;5", "", "6"], ["Action;Comedy;Action;Comedy;Action", "", ""]))
    listed = layer(_features([["1", "2", "3", "4", "5"], [""] * 5, ["6", "", "", "", ""]],
                             [["Action", "Comedy", "Action", "Comedy", "Action"], [""] * 5, [""] * 5]))
    for a, b in zip(joined["history"].sequence, listed["history"].sequence):
        np.testing.assert_array_equal(a, b)


def test_tf_example_lists_parse_to_padded_strings():
    data = text_format.Parse('input_fields { name: "hist" type: STRING is_list: true } '
                             'input_fields { name: "label" type: FLOAT } label_fields: "label"',
                             data_pb2.DataConfig())
    examples = []
    for hist in ([b"1", b"2"], [], [b"3;4"]):
        example = tf.train.Example()
        if hist:
            example.features.feature["hist"].bytes_list.value.extend(hist)
        examples.append(example.SerializeToString())
    parsed = densify(tf.io.parse_example(examples, feature_spec(data, include_targets=False)))
    assert parsed["hist"].numpy().tolist() == [[b"1", b"2"], [b"", b""], [b"3;4", b""]]
    assert split_values(parsed["hist"], ";").to_list() == [[b"1", b"2"], [], [b"3", b"4"]]


# In samples/configs/movielens_din.config: feature_configs[12] is hist_genre, [11] hist_movie_id,
# data_config.input_fields[12] hist_movie_id; feature group 2 is the history.
@pytest.mark.parametrize("edit, path, message", [
    ({"feature_configs[12].sequence_feature.max_len": 20}, "model_config.feature_groups[2]",
     "different max_len"),
    ({"feature_configs[12].sequence_feature.max_len": 0},
     "feature_configs[12].sequence_feature.max_len", "must be positive"),
    ({"data_config.input_fields[12].type": "INT64", "data_config.input_fields[12].is_list": False},
     "feature_configs[11].sequence_feature", "needs a STRING input field"),
    ({"data_config.input_fields[12].type": "INT64"}, "data_config.input_fields[12].is_list",
     "is_list needs a STRING field"),
])
def test_bad_sequence_configs(edit, path, message):
    import json

    from easyrank.config import load_config
    config = load_config("samples/configs/movielens_din.config")
    assert config.feature_configs[11].sequence_feature.name == "hist_movie_id"
    assert config.feature_configs[12].sequence_feature.name == "hist_genre"
    assert config.data_config.input_fields[12].name == "hist_movie_id"
    with pytest.raises(ConfigError, match=message) as info:
        load_config("samples/configs/movielens_din.config", json.dumps(edit))
    assert info.value.path.startswith(path)
