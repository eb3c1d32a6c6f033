"""Compiles a validated PipelineConfig with model_config.retrieval into a RetrievalModel.

    model = build_retrieval_model(config, table_init)     # inside strategy.scope()

Config mistakes that need the built towers (their output widths) are ConfigErrors
raised here, before any training step.
"""

import numpy as np
import tensorflow as tf

from easyrank.backbone import compile_backbone
from easyrank.data import input_signature_fields
from easyrank.data.candidates import read_candidates
from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups, build_columns
from easyrank.models.retrieval_losses import FrequencyEstimator
from easyrank.models.retrieval_model import RetrievalModel, Tower
from easyrank.protos import retrieval_pb2

RETRIEVAL = "model_config.retrieval"
TOWERS = ("query_tower", "item_tower")


def is_retrieval(config):
    return config.model_config.HasField("retrieval")


def tower_groups(retrieval, tower):
    """Names of the feature groups the blocks of `tower` ("query_tower"/"item_tower") read."""
    blocks = getattr(retrieval, tower).backbone.blocks
    return sorted({s.feature_group for b in blocks for s in b.inputs
                   if s.WhichOneof("source") == "feature_group"})


def column_inputs(column):
    """The input fields a feature column reads."""
    names = set(getattr(column, "input_names", None) or [column.input_name])
    if getattr(column, "key_input", None):
        names.add(column.key_input)
    return names


def tower_fields(config, tower, columns=None):
    """Sorted input fields the features of `tower`'s groups read."""
    columns = columns or build_columns(config.feature_configs)
    groups = {g.name: list(g.feature_names) for g in config.model_config.feature_groups}
    fields = set()
    for group in tower_groups(config.model_config.retrieval, tower):
        for feature in groups[group]:
            fields |= column_inputs(columns[feature])
    return sorted(fields)


def load_corpus(config):
    """The candidate file's Corpus (item tower fields + id), or None without candidate_path."""
    retrieval = config.model_config.retrieval
    if not retrieval.candidate_path:
        return None
    sampler = retrieval.negative_sampler
    weight = sampler.weight_field if (
        retrieval.HasField("negative_sampler")
        and sampler.distribution == retrieval_pb2.NegativeSampler.FREQUENCY) else None
    return read_candidates(retrieval.candidate_path, config.data_config,
                           tower_fields(config, "item_tower"), retrieval.item_id_field, weight)


def build_retrieval_model(config, table_init, corpus=None):
    """Builds the model and its variables; ConfigError when the towers' widths differ.

    table_init: how tables start (models.compiler.default_table_init of the train config).
    """
    model = compile_retrieval_model(config, table_init, corpus)
    features = model.dummy_features()
    widths = {tower: model_part(model, tower)(features).shape[-1] for tower in TOWERS}
    if widths["query_tower"] != widths["item_tower"]:
        raise ConfigError(
            f"the towers end in embeddings of different widths: query_tower {widths['query_tower']}, "
            f"item_tower {widths['item_tower']}. Make the output blocks of both towers equally wide "
            "(e.g. the last hidden_units of their mlp).", path=RETRIEVAL + ".item_tower.backbone")
    model(features, training=False)
    if model.estimator is not None:  # its state is checkpointed: it exists before any restore
        model.estimator.build()
    return model


def model_part(model, tower):
    return model.query_embedding if tower == "query_tower" else model.item_embedding


def compile_retrieval_model(config, table_init, corpus=None):
    """The RetrievalModel of `config`, its variables not yet created.

    corpus: the candidate Corpus (load_corpus) for sampled and hard negatives; read
    here when they are configured and it is not given.
    """
    model_config, retrieval = config.model_config, config.model_config.retrieval
    columns = build_columns(config.feature_configs)
    groups = [(g.name, list(g.feature_names)) for g in model_config.feature_groups]
    feature_groups = FeatureGroups(columns, groups, embedding_l2=model_config.embedding_l2,
                                   default_table_init=table_init,
                                   dtype="float32")
    shapes = feature_groups.output_shapes()
    towers = {}
    for tower in TOWERS:
        path = f"{RETRIEVAL}.{tower}.backbone"
        try:
            backbone, _ = compile_backbone(getattr(retrieval, tower).backbone, shapes,
                                           seed=config.train_config.seed)
        except ConfigError as e:
            raise ConfigError(e.message, path=e.path.replace("model_config.backbone", path),
                              file=e.file, line=e.line) from None
        towers[tower] = Tower(backbone, tower_groups(retrieval, tower),
                              normalize=retrieval.similarity == retrieval_pb2.RetrievalConfig.COSINE,
                              name=tower)
    estimator = None
    if retrieval.logq_correction:
        estimator = FrequencyEstimator(retrieval.frequency_buckets, retrieval.frequency_learning_rate,
                                       name="item_frequency")
    needs_corpus = retrieval.negative_sampler.num_negatives > 0 or retrieval.hard_negative_fields
    if needs_corpus and corpus is None:
        corpus = load_corpus(config)
    corpus_tensors, logits = None, None
    if needs_corpus:
        corpus_tensors = {k: tf.constant(v) for k, v in corpus.features.items()}
        corpus_tensors["__id__"] = tf.constant(corpus.ids.astype(bytes))
        if corpus.weights is not None:
            logits = tf.constant(np.log(np.maximum(corpus.weights, 1e-30)), tf.float32)
    return RetrievalModel(
        feature_groups, towers["query_tower"], towers["item_tower"],
        input_signature_fields(config.data_config), retrieval.item_id_field,
        temperature=retrieval.temperature, estimator=estimator,
        remove_accidental_hits=retrieval.remove_accidental_hits,
        global_batch_negatives=retrieval.global_batch_negatives, corpus=corpus_tensors,
        num_negatives=retrieval.negative_sampler.num_negatives, negative_logits=logits,
        hard_negative_fields=list(retrieval.hard_negative_fields),
        sample_weight_field=config.data_config.sample_weight_field or None,
        loss_reduction="sum" if retrieval.loss_reduction == retrieval_pb2.RetrievalConfig.SUM
        else "mean")
