"""Retrieval on MovieLens: easyrank's two-tower configs against most-popular and TFRS's recipe.

    python tools/benchmark_retrieval.py [--split valid|test] [--epochs 3] [--seed 2024]
        [--variants popular,tfrs,ids,full,full_no_logq] [--known_users] [--output results.json]

Every method is scored by the same code (easyrank/evaluation/corpus_metrics.py) on the
same split of samples/data/movielens_retrieval (tools/prepare_movielens_retrieval.py):
each evaluation row's liked movie is ranked among all 9,742 movies of items.csv,
leaving out the movies the user liked in the training split; recall@K is the share
of rows whose movie ranks in the top K.

  popular       the movies liked most often in the training split
  tfrs          tensorflow-recommenders' basic retrieval recipe
                (tensorflow.org/recommenders/examples/basic_retrieval): StringLookup +
                32-wide Embedding of user and movie ids, tfrs.tasks.Retrieval,
                Adagrad 0.1, batches of 8192, shuffled
  tfrs_stream   the recipe with its epochs streamed as easyrank's input does (shuffled
                rows repeated, then batched: 13 batches of up to 8192 over 3 epochs
                instead of 3 x 5 with a partial batch each epoch)
  ids           samples/configs/movielens_retrieval_ids.config: the same recipe in
                easyrank (python -m easyrank.train)
  full          samples/configs/movielens_retrieval.config: histories, item
                features (with the training split's like count), logQ correction
  full_no_logq  the same without logQ correction
  full_sum      the same with loss_reduction SUM (the sample keeps the default MEAN)

--seed seeds TFRS and easyrank (train_config.seed) alike. --known_users adds the metrics of
the evaluation rows whose user is in the training split ("known/recall@K"; easyrank's by
`python -m easyrank.evaluate --eval_input_path` on those rows): the other rows' queries
are the untrained out-of-vocabulary user embedding in the id-only models, a random vector.

Times: "train" is model.fit (TFRS) or the train loop's training phase (easyrank, from
its log), "total" the whole run (data, training, evaluation; easyrank's includes its
export). Choose designs on --split valid; run --split test once.
"""

import argparse
import csv
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras

from easyrank.data.candidates import read_candidates
from easyrank.evaluation.corpus_metrics import CorpusRanker, retrieval_metrics
from easyrank.protos import data_pb2

DATA = "samples/data/movielens_retrieval"
CONFIGS = {"ids": ("samples/configs/movielens_retrieval_ids.config", {}),
           "full": ("samples/configs/movielens_retrieval.config", {}),
           "full_no_logq": ("samples/configs/movielens_retrieval.config",
                            {"model_config.retrieval.logq_correction": False}),
           "full_sum": ("samples/configs/movielens_retrieval.config",
                        {"model_config.retrieval.loss_reduction": "SUM"})}
KS = (10, 50, 100)


def read_pairs(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return (np.array([r["user_id"].encode() for r in rows], dtype=object),
            np.array([r["movie_id"].encode() for r in rows], dtype=object))


def evaluate(queries, item_embeddings, corpus, eval_users, eval_movies, seen):
    ranker = CorpusRanker(item_embeddings)
    ranks = ranker.ranks(queries, corpus.index_of(eval_movies),
                         [seen.get(u, ()) for u in eval_users])
    results = retrieval_metrics(ranks, KS, groups=eval_users)
    known = np.array([u in seen for u in eval_users])
    if known.any():
        results.update({f"known/{k}": v for k, v in retrieval_metrics(
            ranks[known], KS, groups=eval_users[known]).items()})
    return results


def known_rows(eval_path, seen, work):
    """A copy of eval_path holding the rows whose user is in the training split."""
    path = os.path.join(work, "known_" + os.path.basename(eval_path))
    with gzip.open(eval_path, "rt", encoding="utf-8") as src, \
            gzip.open(path, "wt", encoding="utf-8") as dst:
        dst.write(next(src))
        dst.writelines(line for line in src if line.split(",", 1)[0].encode() in seen)
    return path


def most_popular(corpus, train_movies, eval_users, eval_movies, seen):
    start = time.perf_counter()
    counts = np.bincount(np.maximum(corpus.index_of(train_movies), 0), minlength=len(corpus))
    queries = np.ones((len(eval_users), 1), np.float32)
    results = evaluate(queries, counts[:, None].astype(np.float32), corpus, eval_users, eval_movies,
                       seen)
    return results, {"total_s": time.perf_counter() - start}


class _TfrsModel(tfrs.Model):
    """The recipe's MovielensModel."""

    def __init__(self, user_model, movie_model, task):
        super().__init__()
        self.user_model, self.movie_model, self.task = user_model, movie_model, task

    def compute_loss(self, features, training=False):
        return self.task(self.user_model(features["user_id"]), self.movie_model(features["movie_id"]),
                         compute_metrics=not training)


def tfrs_recipe(corpus, train, eval_users, eval_movies, seen, epochs, seed, stream=False):
    start = time.perf_counter()
    tf_keras.utils.set_random_seed(seed)
    users, movies = train
    user_vocab = np.unique(users.astype(bytes))
    user_model = tf_keras.Sequential([
        tf_keras.layers.StringLookup(vocabulary=user_vocab, mask_token=None),
        tf_keras.layers.Embedding(len(user_vocab) + 1, 32)])
    movie_model = tf_keras.Sequential([
        tf_keras.layers.StringLookup(vocabulary=corpus.ids.astype(bytes), mask_token=None),
        tf_keras.layers.Embedding(len(corpus) + 1, 32)])
    candidates = tf.data.Dataset.from_tensor_slices(corpus.ids.astype(bytes)).batch(128)
    task = tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(
        candidates=candidates.map(movie_model)))
    model = _TfrsModel(user_model, movie_model, task)
    model.compile(optimizer=tf_keras.optimizers.Adagrad(learning_rate=0.1))
    data = tf.data.Dataset.from_tensor_slices({"user_id": users.astype(bytes),
                                               "movie_id": movies.astype(bytes)})
    data = data.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
    if stream:
        data, fit_epochs = data.repeat(epochs).batch(8192), 1
    else:
        data, fit_epochs = data.batch(8192).cache(), epochs
    fit_start = time.perf_counter()
    model.fit(data, epochs=fit_epochs, verbose=0)
    train_s = time.perf_counter() - fit_start
    queries = user_model(tf.constant(eval_users.astype(bytes))).numpy()
    items = movie_model(tf.constant(corpus.ids.astype(bytes))).numpy()
    results = evaluate(queries, items, corpus, eval_users, eval_movies, seen)
    return results, {"train_s": train_s, "total_s": time.perf_counter() - start,
                     "rows_per_s": len(users) * epochs / train_s}


def easyrank_run(name, eval_path, epochs, work, seed, known_path=None):
    path, edits = CONFIGS[name]
    edits = dict(edits, **{"eval_input_path": [eval_path], "train_config.num_epochs": epochs,
                           "train_config.seed": seed})
    model_dir = os.path.join(work, name)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "easyrank.train", "--pipeline_config_path", path,
                           "--model_dir", model_dir, "--edit_config_json", json.dumps(edits)],
                          capture_output=True, text=True)
    total = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(model_dir, "eval_result.json"), encoding="utf-8") as f:
        result = json.load(f)
    log = proc.stderr + proc.stdout
    began = re.search(r"^(\d\d):(\d\d):(\d\d) Training to step (\d+)", log, re.M)
    ended = re.search(r"^(\d\d):(\d\d):(\d\d) Evaluation at step", log, re.M)
    train_s = None
    if began and ended:
        seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in (began.groups()[:3], ended.groups())]
        train_s = (seconds[1] - seconds[0]) % 86400
    results = {k[len("retrieval/"):]: v for k, v in result.items() if k.startswith("retrieval/")}
    if known_path:
        known_json = os.path.join(work, name + "_known.json")
        proc = subprocess.run([sys.executable, "-m", "easyrank.evaluate", "--pipeline_config_path",
                               path, "--model_dir", model_dir, "--edit_config_json", json.dumps(edits),
                               "--eval_input_path", known_path, "--output_path", known_json],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{name} evaluate failed:\n{proc.stderr[-3000:]}")
        with open(known_json, encoding="utf-8") as f:
            results.update({"known/" + k[len("retrieval/"):]: v for k, v in json.load(f).items()
                            if k.startswith("retrieval/")})
    return results, {"train_s": train_s, "total_s": total, "steps": result.get("global_step")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["valid", "test"], default="valid")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--variants", default="popular,tfrs,ids,full,full_no_logq")
    parser.add_argument("--known_users", action="store_true")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    data_config = data_pb2.DataConfig()
    data_config.input_fields.add(name="movie_id", type=data_pb2.InputField.STRING)
    corpus = read_candidates(os.path.join(DATA, "items.csv"), data_config, [], "movie_id")
    train = read_pairs(os.path.join(DATA, "train.csv.gz"))
    eval_path = os.path.join(DATA, f"{args.split}.csv.gz")
    eval_users, eval_movies = read_pairs(eval_path)
    seen = {}
    for user, row in zip(train[0], corpus.index_of(train[1])):
        seen.setdefault(user, []).append(row)
    work = tempfile.mkdtemp(prefix="retrieval_bench_")
    report = {}
    for name in args.variants.split(","):
        if name == "popular":
            report[name] = most_popular(corpus, train[1], eval_users, eval_movies, seen)
        elif name in ("tfrs", "tfrs_stream"):
            report[name] = tfrs_recipe(corpus, train, eval_users, eval_movies, seen, args.epochs,
                                       args.seed, stream=name == "tfrs_stream")
        else:
            report[name] = easyrank_run(name, eval_path, args.epochs, work, args.seed,
                                        known_rows(eval_path, seen, work) if args.known_users else None)
        metrics, times = report[name]
        keys = [f"recall@{k}" for k in KS] + ([f"known/recall@{k}" for k in KS]
                                              if args.known_users else [])
        print(f"{name:14s} " + " ".join(f"{key}={metrics[key]:.4f}" for key in keys)
              + " " + " ".join(f"{k}={v:.1f}" for k, v in times.items() if isinstance(v, (int, float))),
              flush=True)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump({"split": args.split, "epochs": args.epochs, "seed": args.seed,
                       "rows": len(eval_users), "known_rows": int(sum(u in seen for u in eval_users)),
                       "results": report}, f, indent=1)


if __name__ == "__main__":
    main()
