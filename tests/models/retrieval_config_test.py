"""Retrieval configs: the sample configs validate; each bad input gives one clear error before training."""

import easyrank  # noqa: F401

# isort: split

import os
import subprocess
import sys

import pytest

from easyrank import config as config_lib
from easyrank.data.candidates import read_candidates
from easyrank.errors import ConfigError, DataError
from easyrank.models import build_model
from easyrank.models.retrieval_corpus import check_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDS = os.path.join(ROOT, "samples", "configs", "movielens_retrieval_ids.config")
FULL = os.path.join(ROOT, "samples", "configs", "movielens_retrieval.config")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the samples name their data relative to the repository root


def variant(tmp_path, old, new, base=IDS):
    """The id-only sample with `old` replaced by `new`, as a file (errors name its lines)."""
    with open(base, encoding="utf-8") as f:
        text = f.read()
    assert old in text
    path = tmp_path / "variant.config"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("path", [IDS, FULL])
def test_sample_configs_validate(path):
    config = config_lib.load_config(path)
    assert config.model_config.HasField("retrieval")


def test_loss_reduction_reaches_the_model():
    from easyrank.models.retrieval_compiler import compile_retrieval_model
    assert compile_retrieval_model(config_lib.load_config(IDS), "uniform").loss_reduction == "sum"
    assert compile_retrieval_model(config_lib.load_config(FULL), "uniform").loss_reduction == "mean"


def test_query_tower_reading_an_item_feature(tmp_path):
    path = variant(tmp_path, 'name: "user_embedding" inputs { feature_group: "user" }',
                   'name: "user_embedding" inputs { feature_group: "movie" }')
    with pytest.raises(ConfigError, match="which the item tower reads too") as e:
        config_lib.load_config(path)
    assert e.value.path == ("model_config.retrieval.query_tower.backbone.blocks[0].inputs[0]"
                            ".feature_group")


def test_query_tower_reading_the_item_id_field(tmp_path):
    path = variant(tmp_path, 'feature_groups { name: "user" feature_names: ["user_id"] }',
                   'feature_groups { name: "user" feature_names: ["user_id", "movie_copy"] }')
    with open(path, encoding="utf-8") as f:
        text = f.read().replace(
            "model_config {", 'feature_configs { id_feature { name: "movie_copy" input_name: '
            '"movie_id" hash_bucket_size: 100 embedding_dim: 32 } }\nmodel_config {', 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    with pytest.raises(ConfigError, match="reads the item-only input field 'movie_id'"):
        config_lib.load_config(path)


def test_towers_of_different_widths(tmp_path):
    path = variant(tmp_path, 'movie_vocab.txt" embedding_dim: 32', 'movie_vocab.txt" embedding_dim: 16')
    config = config_lib.load_config(path)
    with pytest.raises(ConfigError, match="query_tower 32, item_tower 16") as e:
        build_model(config)
    assert e.value.path == "model_config.retrieval.item_tower.backbone"


def test_k_larger_than_the_corpus(tmp_path):
    path = variant(tmp_path, "metrics_top_k: [10, 50, 100]", "metrics_top_k: [10, 50000]")
    config = config_lib.load_config(path)
    with pytest.raises(ConfigError, match=r"larger than the corpus \(9,742 items\)") as e:
        check_corpus(config)
    assert e.value.path == "model_config.retrieval.metrics_top_k[1]"


@pytest.mark.parametrize("rows,message", [
    ("movie_id,genres\n1,Drama\n2,Comedy\n1,Horror\n", r"row 4: id '1' of column movie_id already "
                                                       r"appeared in row 2"),
    ("movie_id,genres\n1,Drama\n,Comedy\n", "row 3: the id column movie_id is empty"),
    ("genres\nDrama\n", "the header lacks the column"),
])
def test_bad_candidate_files(tmp_path, rows, message):
    path = tmp_path / "items.csv"
    path.write_text(rows, encoding="utf-8")
    config = config_lib.load_config(IDS)
    with pytest.raises(DataError, match=message):
        read_candidates(str(path), config.data_config, ["genres"], "movie_id")


@pytest.mark.parametrize("edit,path", [
    ('"logq_correction": false, "model_config.retrieval.temperature": 0', "temperature"),
    ('"model_config.retrieval.item_id_field": "nope"', "item_id_field"),
    ('"model_config.retrieval.negative_sampler.num_negatives": 5, '
     '"model_config.retrieval.candidate_path": ""', "negative_sampler"),
    ('"model_config.retrieval.exclude_train_items": true, '
     '"model_config.retrieval.query_id_field": ""', "exclude_train_items"),
])
def test_bad_fields(edit, path):
    if edit.startswith('"logq'):
        edit = '"model_config.retrieval.' + edit[1:]
    with pytest.raises(ConfigError) as e:
        config_lib.load_config(IDS, edit_config_json="{" + edit + "}")
    assert e.value.path == "model_config.retrieval." + path


def test_cli_names_the_field_in_one_paragraph(tmp_path):
    path = variant(tmp_path, 'name: "user_embedding" inputs { feature_group: "user" }',
                   'name: "user_embedding" inputs { feature_group: "movie" }')
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "easyrank.train", "--pipeline_config_path", path,
                           "--model_dir", str(tmp_path / "m")], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    assert "query_tower.backbone.blocks[0].inputs[0].feature_group" in proc.stderr
    assert "Traceback" not in proc.stderr
