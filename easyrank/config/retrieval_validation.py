"""Validation of model_config.retrieval (the two-tower model), called by config.validation.

What needs the built model or the data is checked later, still before training:
the towers' output widths (models/retrieval_compiler.py), the candidate file's ids
(data/candidates.py) and K against the corpus size (evaluation/retrieval_evaluator.py).
"""

from easyrank.config import issue28_validation
from easyrank.errors import ConfigError
from easyrank.protos import export_pb2, retrieval_pb2

BASE = "model_config.retrieval"
_KEYS = ("recall", "hitrate", "ndcg")


def feature_inputs(feature_configs):
    """{feature name: set of input fields it reads}, from the feature messages."""
    inputs = {}
    for wrapper in feature_configs:
        feature = getattr(wrapper, wrapper.WhichOneof("feature"))
        names = set()
        for field in ("input_name", "map_input", "key_input"):
            if field in feature.DESCRIPTOR.fields_by_name and getattr(feature, field):
                names.add(getattr(feature, field))
        if "input_names" in feature.DESCRIPTOR.fields_by_name:
            names |= set(feature.input_names)
        names |= issue28_validation.extra_inputs(feature)  # issue 28's kinds
        inputs[feature.name] = names or {feature.name}
    return inputs


def _tower_reads(retrieval, tower, group_features):
    """[(feature, group, path of the input that reads it)] of a tower."""
    reads = []
    for i, block in enumerate(getattr(retrieval, tower).backbone.blocks):
        for j, source in enumerate(block.inputs):
            if source.WhichOneof("source") == "feature_group":
                path = f"{BASE}.{tower}.backbone.blocks[{i}].inputs[{j}].feature_group"
                reads += [(f, source.feature_group, path) for f in group_features[source.feature_group]]
    return reads


def validate_retrieval(config, fields, groups, validate_backbone):
    """Raises ConfigError for the first broken rule of model_config.retrieval.

    fields: {input field name: InputField}; groups: the feature group names;
    validate_backbone(backbone, groups, base): config.validation's backbone check.
    """
    model, retrieval = config.model_config, config.model_config.retrieval
    if model.tasks:
        raise ConfigError("a retrieval model has no tasks: its loss is the towers' softmax. Remove "
                          "the tasks or model_config.retrieval.", path="model_config.tasks")
    if model.backbone.blocks:
        raise ConfigError("a retrieval model's blocks belong to its towers: move them into "
                          "retrieval.query_tower.backbone / item_tower.backbone.",
                          path="model_config.backbone")
    for tower in ("query_tower", "item_tower"):
        backbone = getattr(retrieval, tower).backbone
        if not backbone.blocks:
            raise ConfigError(f"the {tower} has no blocks; give it a backbone whose output block "
                              "is the embedding, e.g. an mlp over its feature groups.",
                              path=f"{BASE}.{tower}.backbone")
        validate_backbone(backbone, groups, base=f"{BASE}.{tower}.backbone")
    for name in ("item_id_field", "query_id_field"):
        value = getattr(retrieval, name)
        if name == "item_id_field" and not value:
            raise ConfigError("set the input field that identifies the positive item, e.g. "
                              'item_id_field: "movie_id".', path=f"{BASE}.{name}")
        if value and value not in fields:
            raise ConfigError(f"{value!r} is not among data_config.input_fields.", path=f"{BASE}.{name}")
    _check_towers_apart(config, retrieval)
    _check_training(retrieval, fields)
    _check_metrics(retrieval, config.export_config)


def _check_towers_apart(config, retrieval):
    """The query tower reads no feature of the item tower and not the item id: at serving
    time a query has no item."""
    group_features = {g.name: list(g.feature_names) for g in config.model_config.feature_groups}
    inputs = feature_inputs(config.feature_configs)
    item_reads = _tower_reads(retrieval, "item_tower", group_features)
    item_features = {f: g for f, g, _ in item_reads}
    item_fields = {field for f, _, _ in item_reads for field in inputs[f]}
    for feature, group, path in _tower_reads(retrieval, "query_tower", group_features):
        if feature in item_features:
            raise ConfigError(
                f"the query tower reads feature {feature!r} (group {group!r}), which the item tower "
                f"reads too (group {item_features[feature]!r}): at serving time a query has no item. "
                "Give the query side its own feature (it may share the item's table through "
                "embedding_name, as histories do).", path=path)
        leaked = inputs[feature] & (item_fields | {retrieval.item_id_field})
        if leaked:
            raise ConfigError(
                f"the query tower's feature {feature!r} (group {group!r}) reads the item-only "
                f"input field {sorted(leaked)[0]!r}: at serving time a query has no item.", path=path)


def _check_training(retrieval, fields):
    if not retrieval.temperature > 0:
        raise ConfigError(f"must be > 0. Received: {retrieval.temperature}.", path=BASE + ".temperature")
    if retrieval.frequency_buckets < 1:
        raise ConfigError(f"must be >= 1. Received: {retrieval.frequency_buckets}.",
                          path=BASE + ".frequency_buckets")
    if not 0 < retrieval.frequency_learning_rate <= 1:
        raise ConfigError(f"must be in (0, 1]. Received: {retrieval.frequency_learning_rate}.",
                          path=BASE + ".frequency_learning_rate")
    if retrieval.HasField("negative_sampler"):
        sampler, path = retrieval.negative_sampler, BASE + ".negative_sampler"
        if sampler.num_negatives < 1:
            raise ConfigError(f"must be >= 1. Received: {sampler.num_negatives}.",
                              path=path + ".num_negatives")
        if sampler.distribution == retrieval_pb2.NegativeSampler.FREQUENCY and not sampler.weight_field:
            raise ConfigError("FREQUENCY sampling needs the candidate file's weight column, e.g. "
                              'weight_field: "count".', path=path + ".weight_field")
        if not retrieval.candidate_path:
            raise ConfigError("sampled negatives are drawn from the candidate file: set "
                              "candidate_path.", path=path)
    for j, name in enumerate(retrieval.hard_negative_fields):
        if name not in fields:
            raise ConfigError(f"{name!r} is not among data_config.input_fields.",
                              path=f"{BASE}.hard_negative_fields[{j}]")
        if not retrieval.candidate_path:
            raise ConfigError("hard negatives are looked up in the candidate file: set "
                              "candidate_path.", path=f"{BASE}.hard_negative_fields[{j}]")
    if retrieval.exclude_train_items and not retrieval.query_id_field:
        raise ConfigError("excluding training items needs query_id_field (whose items to exclude).",
                          path=BASE + ".exclude_train_items")


def _check_metrics(retrieval, export):
    for i, k in enumerate(retrieval.metrics_top_k):
        if k < 1:
            raise ConfigError(f"must be >= 1. Received: {k}.", path=f"{BASE}.metrics_top_k[{i}]")
    if retrieval.export_top_k < 1:
        raise ConfigError(f"must be >= 1. Received: {retrieval.export_top_k}.", path=BASE + ".export_top_k")
    if export.exporter == export_pb2.ExportConfig.BEST:
        ks = sorted(set(retrieval.metrics_top_k or (10, 50, 100)))
        keys = {f"retrieval/{m}@{k}" for k in ks for m in _KEYS}
        if export.metric not in keys:
            raise ConfigError(f"evaluation never reports {export.metric!r}, so BEST would never "
                              f"export; retrieval reports: {', '.join(sorted(keys))}.",
                              path="export_config.metric")
        if not export.metric_larger_is_better:
            raise ConfigError("retrieval metrics are larger-is-better: set metric_larger_is_better.",
                              path="export_config.metric_larger_is_better")
