"""Evaluation of a retrieval model over its whole corpus.

Every evaluation row is a query with one positive (its item_id_field). The corpus
is the candidate file, or else every item of the training data; its embeddings are
computed once, then each batch of queries is ranked against all of them exactly
(evaluation/corpus_metrics.py). Keys: "retrieval/recall@K", "retrieval/hitrate@K",
"retrieval/ndcg@K" for each K of metrics_top_k, "retrieval/corpus_size",
"retrieval/positives_not_in_corpus" and "num_examples".
"""

import numpy as np
import tensorflow as tf

from easyrank.errors import DataError
from easyrank.evaluation.corpus_metrics import MISS, CorpusRanker, retrieval_metrics
from easyrank.models.retrieval_corpus import check_top_k, corpus_of, numpy_batches

PREFIX = "retrieval/"
DEFAULT_TOP_K = (10, 50, 100)


def metric_keys(retrieval):
    ks = sorted(set(retrieval.metrics_top_k or DEFAULT_TOP_K))
    return {f"{PREFIX}{m}@{k}" for k in ks for m in ("recall", "hitrate", "ndcg")}


def train_interactions(config, corpus):
    """{query id: corpus rows of the items it had in the training data}."""
    retrieval = config.model_config.retrieval
    users, rows = [], []
    for batch in numpy_batches(config, config.train_input_path,
                                [retrieval.query_id_field, retrieval.item_id_field]):
        users.append(batch[retrieval.query_id_field])
        rows.append(corpus.index_of(batch[retrieval.item_id_field]))
    users, rows = np.concatenate(users), np.concatenate(rows)
    keep = rows >= 0
    interactions = {}
    for user, row in zip(users[keep], rows[keep]):
        interactions.setdefault(user, []).append(row)
    return {user: np.array(r, np.int64) for user, r in interactions.items()}


def evaluate_retrieval(model, dataset, config, num_steps=0, corpus=None):
    """Metrics of a RetrievalModel on `dataset` against the whole corpus."""
    retrieval = config.model_config.retrieval
    corpus = corpus if corpus is not None else corpus_of(config)
    check_top_k(config, len(corpus))
    ranker = CorpusRanker(model.embed_corpus(corpus.features))
    seen = train_interactions(config, corpus) if retrieval.exclude_train_items else None
    query_fn = tf.function(lambda f: model.query_embedding(f, training=False))
    ranks, groups = [], []
    for i, (features, _) in enumerate(dataset):
        if num_steps and i >= num_steps:
            break
        queries = query_fn(features).numpy()
        positive = corpus.index_of(features[retrieval.item_id_field].numpy())
        users = features[retrieval.query_id_field].numpy() if retrieval.query_id_field else None
        exclude = None if seen is None else [seen.get(u, ()) for u in users]
        ranks.append(ranker.ranks(queries, positive, exclude))
        if users is not None:
            groups.append(users)
    if not ranks:
        raise DataError(f"the evaluation data {', '.join(config.eval_input_path)} has no rows: "
                        "nothing to evaluate.")
    ranks = np.concatenate(ranks)
    results = retrieval_metrics(ranks, retrieval.metrics_top_k or DEFAULT_TOP_K,
                                groups=np.concatenate(groups) if groups else None, prefix=PREFIX)
    results[PREFIX + "corpus_size"] = len(corpus)
    results[PREFIX + "positives_not_in_corpus"] = int(np.sum(ranks == MISS))
    results["num_examples"] = int(len(ranks))
    return results
