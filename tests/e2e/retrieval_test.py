"""The MovieLens retrieval sample trains briefly, beats an untrained model by far on a slice of
valid, and its three exports pass check_export (fresh process and C++ loader), once each."""

import easyrank  # noqa: F401

# isort: split

import gzip
import importlib
import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

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


def run_evaluate_cli(*args):
    """`python -m easyrank.evaluate args` in this process (as tests/io/ram_storage_test.py):
    its flags are removed afterwards; returns the exit code."""
    importlib.import_module("easyrank.console")
    before = set(flags.FLAGS)
    sys.modules.pop("easyrank.evaluate", None)
    module = importlib.import_module("easyrank.evaluate")
    saved, sys.argv = sys.argv, ["evaluate", *args]
    try:
        module.console.run(module.main)
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = saved
        for flag in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, flag)
        sys.modules.pop("easyrank.evaluate", None)
    return 0


@pytest.mark.slow
def test_evaluate_cli_prints_and_writes_the_corpus_metrics(trained, tmp_path, capsys):
    """easyrank.evaluate on the trained model_dir's config: the same corpus metrics as the
    final evaluation of training (same checkpoint, same rows), printed and written."""
    model_dir, results = trained
    output = str(tmp_path / "metrics.json")
    code = run_evaluate_cli("--pipeline_config_path", os.path.join(model_dir, "pipeline.config"),
                            "--model_dir", model_dir, "--output_path", output)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    with open(output, encoding="utf-8") as f:
        written = json.load(f)
    assert json.loads(captured.out[captured.out.index("{\n"):]) == written
    for k in (10, 50, 100):
        for name in ("recall", "hitrate", "ndcg"):
            key = f"retrieval/{name}@{k}"
            assert written[key] == pytest.approx(results[key], abs=1e-6), key
    assert written["retrieval/corpus_size"] == 9742
    assert written["retrieval/recall@100"] > RECALL_100


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
