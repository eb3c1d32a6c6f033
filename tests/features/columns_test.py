"""Feature columns and groups: every transform against a NumPy/TF re-statement."""

import os
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups, GroupOutput, build_columns, shapes_of
from easyrank.protos import feature_pb2, model_pb2


def make_layer(features_text, groups_text):
    features = [text_format.Parse(t, feature_pb2.FeatureConfig()) for t in features_text]
    groups = [text_format.Parse(t, model_pb2.FeatureGroup()) for t in groups_text]
    return FeatureGroups(build_columns(features), [(g.name, g.feature_names) for g in groups])


def table(layer, name):
    return layer.tables[name].numpy()


def test_hash_id_feature_matches_string_hash():
    layer = make_layer(['id_feature { name: "city" hash_bucket_size: 50 embedding_dim: 3 }'],
                       ['name: "g" feature_names: "city"'])
    values = tf.constant(["paris", "rome", ""])
    out = layer({"city": values})["g"].concat.numpy()
    ids = tf.strings.to_hash_bucket_fast(values, 50).numpy()
    np.testing.assert_allclose(out, table(layer, "city")[ids])


def test_int64_ids_are_hashed_as_strings():
    layer = make_layer(['id_feature { name: "code" hash_bucket_size: 10 embedding_dim: 2 }'],
                       ['name: "g" feature_names: "code"'])
    out = layer({"code": tf.constant([7, 7, 8], tf.int64)})["g"].concat.numpy()
    ids = tf.strings.to_hash_bucket_fast(["7", "7", "8"], 10).numpy()
    np.testing.assert_allclose(out, table(layer, "code")[ids])


def test_vocab_list_with_oov_and_identity_with_out_of_range():
    layer = make_layer([
        'id_feature { name: "sex" vocab_list: ["Male", "Female"] num_oov_buckets: 1 embedding_dim: 2 }',
        'id_feature { name: "level" num_buckets: 3 embedding_dim: 2 }',
    ], ['name: "g" feature_names: ["sex", "level"]'])
    out = layer({"sex": tf.constant(["Female", "Male", "Other"]),
                 "level": tf.constant([0, 2, 9], tf.int64)})["g"]
    sex, level = table(layer, "sex"), table(layer, "level")
    assert sex.shape == (3, 2) and level.shape == (4, 2)
    np.testing.assert_allclose(out.concat.numpy()[:, :2], sex[[1, 0, 2]])
    np.testing.assert_allclose(out.concat.numpy()[:, 2:], level[[0, 2, 3]])
    assert out.stacked.shape == (3, 2, 2)


@pytest.mark.parametrize("normalizer, expected", [
    ("", lambda x: x),
    ("normalizer { log1p: true }", lambda x: np.log1p(np.maximum(x, 0))),
    ("normalizer { mean: 2 std: 4 }", lambda x: (x - 2) / 4),
    ("normalizer { log1p: true min: 0 max: 2 }", lambda x: np.clip(np.log1p(np.maximum(x, 0)) / 2, 0, 1)),
])
def test_raw_feature_normalizers(normalizer, expected):
    layer = make_layer([f'raw_feature {{ name: "x" {normalizer} }}'], ['name: "g" feature_names: "x"'])
    x = np.array([-1.0, 0.0, 3.0, 100.0], np.float32)
    out = layer({"x": tf.constant(x)})["g"].concat.numpy()
    np.testing.assert_allclose(out[:, 0], expected(x), rtol=1e-6)


def test_raw_feature_buckets_and_dense_embedding():
    layer = make_layer([
        'raw_feature { name: "age" boundaries: [18, 30, 60] embedding_dim: 4 }',
        'raw_feature { name: "wage" embedding_dim: 4 }',
    ], ['name: "g" feature_names: ["age", "wage"]'])
    out = layer({"age": tf.constant([5.0, 18.0, 45.0, 70.0]), "wage": tf.constant([0.0, 1.0, 2.0, -1.0])})["g"]
    age_table, wage_table = table(layer, "age"), table(layer, "wage")
    np.testing.assert_allclose(out.concat.numpy()[:, :4], age_table[[0, 1, 2, 3]])
    np.testing.assert_allclose(out.concat.numpy()[:, 4:], np.outer([0, 1, 2, -1], wage_table[0]), rtol=1e-6)
    assert out.stacked.shape == (4, 2, 4)


@pytest.mark.parametrize("combiner", ["SUM", "MEAN"])
def test_tag_feature_pools_and_empty_gives_zeros(combiner):
    layer = make_layer([f'tag_feature {{ name: "genres" vocab_list: ["a", "b", "c"] embedding_dim: 3 '
                        f'combiner: {combiner} }}'], ['name: "g" feature_names: "genres"'])
    out = layer({"genres": tf.constant(["a|b", "", "c|zz|c", "b||"])})["g"].concat.numpy()
    t = table(layer, "genres")
    rows = [[0, 1], [], [2, 3, 2], [1]]
    for got, ids in zip(out, rows):
        want = t[ids].sum(0) if ids else np.zeros(3)
        if combiner == "MEAN" and ids:
            want = want / len(ids)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_tag_feature_reads_a_padded_list_like_the_joined_string():
    layer = make_layer(['tag_feature { name: "genres" vocab_list: ["a", "b", "c"] embedding_dim: 3 }'],
                       ['name: "g" feature_names: "genres"'])
    joined = layer({"genres": tf.constant(["a|b", "", "c|zz|c"])})["g"].concat.numpy()
    listed = layer({"genres": tf.constant([["a", "b", ""], ["", "", ""], ["c", "zz", "c"]])})["g"].concat
    np.testing.assert_allclose(listed.numpy(), joined, rtol=1e-6)


def test_shared_embedding_by_name_and_mismatch_error():
    layer = make_layer([
        'id_feature { name: "movie" hash_bucket_size: 20 embedding_dim: 4 embedding_name: "items" }',
        'id_feature { name: "last_movie" hash_bucket_size: 20 embedding_dim: 4 embedding_name: "items" }',
    ], ['name: "g" feature_names: ["movie", "last_movie"]'])
    out = layer({"movie": tf.constant(["x"]), "last_movie": tf.constant(["x"])})["g"].concat.numpy()
    assert list(layer.tables) == ["items"]
    np.testing.assert_allclose(out[:, :4], out[:, 4:])
    with pytest.raises(ConfigError, match="shared with feature 'movie' but has 30 rows"):
        make_layer([
            'id_feature { name: "movie" hash_bucket_size: 20 embedding_dim: 4 embedding_name: "items" }',
            'id_feature { name: "other" hash_bucket_size: 30 embedding_dim: 4 embedding_name: "items" }',
        ], ['name: "g" feature_names: ["movie"]'])


def test_group_without_common_width_has_no_stacked_form():
    layer = make_layer(['raw_feature { name: "x" }', 'id_feature { name: "c" hash_bucket_size: 5 embedding_dim: 3 }'],
                       ['name: "g" feature_names: ["x", "c"]'])
    out = layer({"x": tf.constant([1.0]), "c": tf.constant(["a"])})["g"]
    assert out.concat.shape == (1, 4)
    assert out.stacked is None
    # Known before any call, for the config compiler: the same per-example shapes.
    assert layer.output_shapes() == shapes_of({"g": out}) == {"g": GroupOutput((4,), None)}


def test_vocab_file_is_a_saved_model_asset(tmp_path):
    vocab = tmp_path / "cities.txt"
    vocab.write_text("paris\nrome\nberlin\n")
    layer = make_layer([f'id_feature {{ name: "city" vocab_file: "{vocab}" embedding_dim: 2 }}'],
                       ['name: "g" feature_names: "city"'])
    module = tf.Module()
    module.layer = layer
    module.f = tf.function(lambda x: layer({"city": x})["g"].concat,
                           input_signature=[tf.TensorSpec([None], tf.string)])
    expected = module.f(tf.constant(["rome", "nowhere"])).numpy()
    np.testing.assert_allclose(expected, table(layer, "city")[[1, 3]])
    export = str(tmp_path / "model")
    tf.saved_model.save(module, export)
    vocab.unlink()  # the export must not need the original file
    assert os.path.exists(os.path.join(export, "assets", "cities.txt"))
    code = ("import os, sys; os.environ['TF_USE_LEGACY_KERAS']='1'; import tensorflow as tf; "
            "m = tf.saved_model.load(sys.argv[1]); print(m.f(tf.constant(['rome', 'nowhere'])).numpy().tolist())")
    out = subprocess.run([sys.executable, "-c", code, export], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(eval_list(out.stdout), expected, rtol=1e-6)


def eval_list(text):
    import json
    return np.array(json.loads(text.strip().splitlines()[-1]))
