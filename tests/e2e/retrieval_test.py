"""The MovieLens retrieval sample trains briefly, beats an untrained model by far on a slice of
valid, and its three exports pass check_export (fresh process and C++ loader), once each."""

import easyrank  # noqa: F401

# isort: split

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from easyrank import config as config_lib
from easyrank.serving import retrieval_checks
from easyrank.serving.retrieval_export import ITEM_EMBEDDINGS_ASSET, read_embeddings
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples", "configs", "movielens_retrieval.config")
VALID = os.path.join(ROOT, "samples", "data", "movielens_retrieval", "valid.csv.gz")
# An untrained model: recall@100 = 0.0035 on valid (measured at step 30 of the sample).
RECALL_100 = 0.05
EVAL_ROWS = 1000  # the first rows of valid; the metrics still rank all 9,742 movies
STEPS = 80


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    os.chdir(ROOT)
    model_dir = str(tmp_path_factory.mktemp("movielens_retrieval"))
    valid = str(tmp_path_factory.mktemp("data") / "valid_head.csv")
    with gzip.open(VALID, "rt") as src, open(valid, "w") as dst:
        dst.writelines(line for _, line in zip(range(EVAL_ROWS + 1), src))
    config = config_lib.load_config(CONFIG, edit_config_json=(
        '{"train_config.num_steps": %d, "data_config.shuffle_buffer_size": 5000, '
        '"export_config.num_warmup_rows": 8}' % STEPS))
    config.eval_input_path[:] = [valid]
    results = loop.train_and_evaluate(config, model_dir)
    return model_dir, results


@pytest.mark.slow
def test_sample_beats_an_untrained_model(trained):
    _, results = trained
    assert results["retrieval/corpus_size"] == 9742
    assert results["retrieval/positives_not_in_corpus"] == 0
    assert results["retrieval/recall@100"] > RECALL_100
    assert results["retrieval/hitrate@100"] >= results["retrieval/recall@100"]
    assert results["retrieval/recall@10"] < results["retrieval/recall@50"] < results["retrieval/recall@100"]


@pytest.mark.slow
def test_exports_pass_check_export(trained):
    model_dir, _ = trained
    export = os.path.join(model_dir, "export")
    problems, lines = retrieval_checks.check(export, num_rows=16, cc_check=True)
    assert problems == [], "\n".join(problems + lines)
    assert any("item_ids: equal to the exact top-k" in line for line in lines)
    # The top-k model alone, as TF Serving loads it: k ids per query, scores descending.
    version = sorted(d for d in os.listdir(export) if d.isdigit())[-1]
    loaded = tf.saved_model.load(os.path.join(export, version))
    example = tf.train.Example()
    example.features.feature["hist_movie_id"].bytes_list.value.extend([b"1", b"260", b"1196"])
    out = loaded.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))
    scores = out["scores"].numpy()[0]
    assert out["item_ids"].shape == (1, 100) and np.all(np.diff(scores) <= 0)
    ids, vectors = read_embeddings(os.path.join(export, "item_tower", version, "assets.extra",
                                                ITEM_EMBEDDINGS_ASSET))
    assert len(ids) == 9742 and vectors.shape == (9742, 32)
