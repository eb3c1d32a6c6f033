"""Exports of a retrieval model: three SavedModels and the item embeddings, one version.

    <export_dir>/<version>/              top-k retrieval (TF Serving alone serves it)
        serving_default   examples (query tf.Examples) -> item_ids [B, k] (string),
                          scores [B, k] (float32), best first
        raw_features      one input per query input field -> the same
        query_embedding   examples -> embedding [B, D]
    <export_dir>/query_tower/<version>/  serving_default: examples -> embedding [B, D];
                                         raw_features: query input fields -> embedding
    <export_dir>/item_tower/<version>/   the same for item features, and
        assets.extra/item_embeddings.tsv one line per corpus item: id TAB D comma-joined
                                         floats (for an external ANN index)

The top-k model holds the corpus ids and embeddings as variables and scores with
core ops only: tf.linalg.matmul and tf.math.top_k (exact; the same as
tfrs.layers.factorized_top_k.BruteForce, which is not used because its SavedModel
carries Keras layer state and its k is fixed at index time). Each SavedModel has
assets.extra/pipeline.config and warmup records of real rows, and is written to a
temporary directory and renamed when complete.
"""

import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format

from easyrank.data.tfrecord_reader import densify, feature_spec
from easyrank.io import files
from easyrank.models.retrieval_compiler import tower_fields
from easyrank.models.retrieval_corpus import check_top_k, corpus_of
from easyrank.serving import warmup
from easyrank.serving.saved_model import (
    PIPELINE_CONFIG_ASSET,
    WARMUP_ASSET,
    delete_version,
    next_version,
    remove_stale_temporaries,
    versions,
)
from easyrank.serving.signatures import signature_inputs

ITEM_EMBEDDINGS_ASSET = "item_embeddings.tsv"
SUBMODELS = ("query_tower", "item_tower")


class TowerModule(tf.Module):
    """One tower's signatures: serving_default (tf.Examples) and raw_features -> embedding."""

    def __init__(self, model, data_config, fields, embed):
        super().__init__()
        self.model = model
        self._embed = embed
        spec = feature_spec(data_config, include_targets=False)
        self._spec = {name: spec[name] for name in fields}
        dtypes = {name: dtype for name, dtype, _ in model.input_fields}
        self.serving_default = tf.function(
            self._from_examples, input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.raw_features = tf.function(
            self._from_raw,
            input_signature=[{name: tf.TensorSpec([None], dtypes[name], name=name) for name in fields}])

    def parse(self, examples):
        return densify(tf.io.parse_example(examples, self._spec))

    def _from_examples(self, examples):
        return {"embedding": self._embed(self.parse(examples))}

    def _from_raw(self, features):
        return {"embedding": self._embed(features)}


class TopKModule(TowerModule):
    """Query -> the k best corpus items by dot product (embeddings as variables)."""

    def __init__(self, model, data_config, fields, item_ids, item_embeddings, k):
        super().__init__(model, data_config, fields, model.query_embedding)
        self.item_ids = tf.Variable(tf.constant(item_ids, tf.string), trainable=False, name="item_ids")
        self.item_embeddings = tf.Variable(tf.constant(item_embeddings, tf.float32), trainable=False,
                                           name="item_embeddings")
        self.k = k
        self.query_embedding = tf.function(
            super()._from_examples, input_signature=[tf.TensorSpec([None], tf.string, name="examples")])

    def _top_k(self, query):
        scores = tf.linalg.matmul(query, self.item_embeddings, transpose_b=True)
        best, index = tf.math.top_k(scores, k=self.k)
        return {"item_ids": tf.gather(self.item_ids, index), "scores": best}

    def _from_examples(self, examples):
        return self._top_k(self._embed(self.parse(examples)))

    def _from_raw(self, features):
        return self._top_k(self._embed(features))


def export_retrieval(model, config, export_dir, keep=0, corpus=None):
    """Writes the three SavedModels and the embeddings file as one new version; returns the
    top-k model's version directory."""
    retrieval = config.model_config.retrieval
    corpus = corpus if corpus is not None else corpus_of(config)
    check_top_k(config, len(corpus))
    embeddings = model.embed_corpus(corpus.features)
    ids = corpus.ids.astype(bytes)
    query_fields = tower_fields(config, "query_tower")
    item_fields = tower_fields(config, "item_tower")
    modules = {
        "": TopKModule(model, config.data_config, query_fields, ids, embeddings, retrieval.export_top_k),
        "query_tower": TowerModule(model, config.data_config, query_fields, model.query_embedding),
        "item_tower": TowerModule(model, config.data_config, item_fields, model.item_embedding),
    }
    files.makedirs(export_dir)
    version = max(next_version(os.path.join(export_dir, sub)) for sub in ("",) + SUBMODELS)
    features, _ = warmup.read_rows(config, min(config.export_config.num_warmup_rows, warmup.MAX_ROWS))
    final = None
    for sub, module in modules.items():
        base = os.path.join(export_dir, sub)
        files.makedirs(base)
        remove_stale_temporaries(base)
        temp = os.path.join(base, f".tmp-{version}-{os.getpid()}")
        files.rmtree(temp)
        try:
            signatures = {"serving_default": module.serving_default.get_concrete_function(),
                          "raw_features": module.raw_features.get_concrete_function()}
            if isinstance(module, TopKModule):
                signatures["query_embedding"] = module.query_embedding.get_concrete_function()
            tf.saved_model.save(module, temp, signatures=signatures)
            extra = os.path.join(temp, "assets.extra")
            files.makedirs(extra)
            files.write_text(os.path.join(extra, PIPELINE_CONFIG_ASSET), text_format.MessageToString(config))
            if config.export_config.num_warmup_rows > 0:
                logs = warmup.build_prediction_logs(config.export_config.model_name,
                                                    signature_inputs(signatures), features)
                warmup.write_prediction_logs(os.path.join(extra, WARMUP_ASSET), logs)
            if sub == "item_tower":
                write_embeddings(os.path.join(extra, ITEM_EMBEDDINGS_ASSET), ids, embeddings)
            files.publish_dir(temp, os.path.join(base, str(version)), last=("saved_model.pb",))
        finally:
            files.rmtree(temp)
        if keep > 0:
            for old in versions(base)[:-keep]:
                delete_version(base, old)
        if not sub:
            final = os.path.join(base, str(version))
    return final


def write_embeddings(path, ids, embeddings):
    """id TAB comma-joined floats (9 significant digits: float32 round-trips), a line per item."""
    with tf.io.gfile.GFile(path, "w") as f:
        for item, vector in zip(ids, np.asarray(embeddings, np.float32)):
            f.write(item.decode() + "\t" + ",".join(f"{v:.9g}" for v in vector) + "\n")


def read_embeddings(path):
    """(ids [N] bytes, embeddings [N, D] float32) of an item_embeddings.tsv file."""
    ids, vectors = [], []
    with tf.io.gfile.GFile(path, "r") as f:
        for line in f:
            item, values = line.rstrip("\n").split("\t")
            ids.append(item.encode())
            vectors.append([float(v) for v in values.split(",")])
    return np.array(ids, dtype=object), np.array(vectors, np.float32)
