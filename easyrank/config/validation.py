"""Cross-field rules of a PipelineConfig, checked once after parsing.

Block parameters are checked by the block builders (easyrank/backbone/), which
raise the same ConfigError with the block's field path when the model is built.
"""

import math
import re

from google.protobuf import descriptor

from easyrank.config.feature_kinds import KINDS, Context, embedding_tables, validate_across
from easyrank.embeddings import memory
from easyrank.errors import ConfigError
from easyrank.protos import data_pb2, export_pb2, model_pb2
from easyrank.protos.metric_names import metric_keys

_FLOAT_TYPES = (descriptor.FieldDescriptor.TYPE_FLOAT, descriptor.FieldDescriptor.TYPE_DOUBLE)
# TF Serving model names are URL path segments of its REST API.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

def validate(config, allow_unfilled=False):
    """Raises ConfigError for the first broken rule in `config`.

    allow_unfilled: accept statistics left to the data (vocab_from_data,
    compute_from_data, boundaries_from_quantiles without values), as
    `python -m easyrank.stats` does; training needs them filled.
    """
    _validate_set_fields(config, "")
    _validate_names(config)
    fields = _validate_data(config.data_config)
    features = _validate_features(config.feature_configs, fields, config.data_config, allow_unfilled)
    groups = _validate_groups(config.model_config.feature_groups, features)
    validate_across(config)  # the kinds' checks that need other features or the groups
    retrieval = config.model_config.HasField("retrieval")
    if retrieval:  # two towers instead of backbone and tasks
        from easyrank.config.retrieval_validation import validate_retrieval
        validate_retrieval(config, fields, groups, _validate_backbone)
    else:
        blocks = _validate_backbone(config.model_config.backbone, groups)
        _validate_tasks(config.model_config.tasks, config.data_config, fields, groups, blocks)
    _validate_train(config.train_config)
    validate_embedding_tables(config)
    if config.export_config.exporter == export_pb2.ExportConfig.BEST and not config.export_config.metric:
        raise ConfigError('exporter BEST needs a metric, e.g. metric: "income/auc".',
                          path="export_config.metric")
    _validate_eval(config.eval_config)
    if not retrieval:  # retrieval_validation checks its export
        _validate_export(config.export_config, config.model_config.tasks)


_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _validate_names(config):
    """Feature, group, block and task names become TensorFlow names, signature inputs and
    output keys: ASCII letters, digits, "_", "." and "-" only (checked before anything runs)."""
    named = [(f"feature_configs[{i}].{w.WhichOneof('feature')}", getattr(w, w.WhichOneof("feature")))
             for i, w in enumerate(config.feature_configs) if w.WhichOneof("feature")]
    model = config.model_config
    named += [(f"model_config.feature_groups[{i}]", g) for i, g in enumerate(model.feature_groups)]
    named += [(f"model_config.backbone.blocks[{i}]", b) for i, b in enumerate(model.backbone.blocks)]
    named += [(f"model_config.tasks[{i}]", t) for i, t in enumerate(model.tasks)]
    for path, message in named:
        for field in ("name", "input_name", "embedding_name"):
            if field not in message.DESCRIPTOR.fields_by_name:
                continue
            value = getattr(message, field)
            if value and not _NAME.match(value):
                raise ConfigError(f"{value!r} is not a usable name: names become TensorFlow names, "
                                  "serving inputs and output keys, so use ASCII letters, digits, "
                                  "'_', '.' and '-' (not first).", path=f"{path}.{field}")


def _validate_set_fields(message, prefix):
    """Every number set anywhere in the config is finite and no enum is left *_UNSPECIFIED.

    Walks the message generically, so new float and enum fields are covered too.
    """
    for field, value in message.ListFields():
        path = prefix + field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            # A map (e.g. a custom block's Struct params): check its values, keyed by name.
            entries = [(f"{path}[{key!r}]", value[key]) for key in sorted(value)]
            value_field = field.message_type.fields_by_name["value"]
            for item_path, item in entries:
                if value_field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                    _validate_set_fields(item, item_path + ".")
                elif value_field.type in _FLOAT_TYPES and not math.isfinite(item):
                    raise ConfigError(f"must be a finite number. Received: {item}.", path=item_path)
            continue
        values = list(value) if field.is_repeated else [value]
        for i, item in enumerate(values):
            item_path = f"{path}[{i}]" if field.is_repeated else path
            if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                _validate_set_fields(item, item_path + ".")
            elif field.type in _FLOAT_TYPES and not math.isfinite(item):
                raise ConfigError(f"must be a finite number (32-bit float fields hold |x| < 3.4e38). "
                                  f"Received: {item}.", path=item_path)
            elif field.type == descriptor.FieldDescriptor.TYPE_ENUM:
                name = field.enum_type.values_by_number[item].name \
                    if item in field.enum_type.values_by_number else str(item)
                if name.endswith("_UNSPECIFIED") or item not in field.enum_type.values_by_number:
                    choices = [v.name for v in field.enum_type.values
                               if not v.name.endswith("_UNSPECIFIED")]
                    raise ConfigError(f"{name} is not a valid choice; set one of "
                                      f"{', '.join(choices)}.", path=item_path)


def _unique(names, path, what):
    seen = set()
    for i, name in enumerate(names):
        if not name:
            raise ConfigError(f"every {what} needs a non-empty name.", path=path.format(i=i))
        if name in seen:
            raise ConfigError(f"duplicate {what} name {name!r}; names must be unique.",
                              path=path.format(i=i))
        seen.add(name)
    return seen


def _validate_data(data):
    path = "data_config"
    if not data.input_fields:
        raise ConfigError("no input_fields: declare the columns the model reads.", path=path)
    fields = {}
    _unique([f.name for f in data.input_fields], path + ".input_fields[{i}].name", "input field")
    for i, field in enumerate(data.input_fields):
        fields[field.name] = field
        if field.is_list and field.type != data_pb2.InputField.STRING:
            raise ConfigError("is_list needs a STRING field (a tf.Example bytes_list).",
                              path=f"{path}.input_fields[{i}].is_list")
        if field.length < 0 or (field.length and (field.type != data_pb2.InputField.FLOAT or field.is_list)):
            raise ConfigError("length (a dense vector, a tf.Example float_list) needs a FLOAT field without "
                              f"is_list and a positive length. Received: {field.length}.",
                              path=f"{path}.input_fields[{i}].length")
        if field.length and data.format != data_pb2.DataConfig.TFRECORD:
            raise ConfigError(f"length (a tf.Example float_list) is for TFRECORD input; "
                              f"{data_pb2.DataConfig.Format.Name(data.format)} carries a vector as a STRING "
                              "field of joined numbers (vector_feature.separator).",
                              path=f"{path}.input_fields[{i}].length")
        if field.default_value and field.type != data_pb2.InputField.STRING:
            try:
                float(field.default_value)
            except ValueError:
                raise ConfigError(f"default_value {field.default_value!r} is not a number but the "
                                  "field is numeric.",
                                  path=f"{path}.input_fields[{i}].default_value") from None
    for i, label in enumerate(data.label_fields):
        if label not in fields:
            raise ConfigError(f"label {label!r} is not among input_fields; add it as an input field.",
                              path=f"{path}.label_fields[{i}]")
        if fields[label].length:
            raise ConfigError(f"label {label!r} is a vector (length); a label is one number per row.",
                              path=f"{path}.label_fields[{i}]")
    if data.sample_weight_field and data.sample_weight_field not in fields:
        raise ConfigError(f"{data.sample_weight_field!r} is not among input_fields.",
                          path=f"{path}.sample_weight_field")
    if data.batch_size <= 0:
        raise ConfigError(f"must be positive. Received: {data.batch_size}.", path=f"{path}.batch_size")
    if data.shuffle_buffer_size <= 0:
        raise ConfigError(f"must be positive. Received: {data.shuffle_buffer_size}.",
                          path=f"{path}.shuffle_buffer_size")
    if len(data.csv_delimiter) != 1:
        raise ConfigError(f"must be one character. Received: {data.csv_delimiter!r}.",
                          path=f"{path}.csv_delimiter")
    return fields


def _validate_features(feature_configs, fields, data, allow_unfilled=False):
    """Returns {feature name: (config, path)}."""
    features = {}
    context = Context(fields, set(data.label_fields) | {data.sample_weight_field}, allow_unfilled)
    shared_dims = {}
    for i, wrapper in enumerate(feature_configs):
        path = f"feature_configs[{i}]"
        kind = wrapper.WhichOneof("feature")
        if kind is None:
            raise ConfigError("empty feature: set one of "
                              + ", ".join(f.name for f in wrapper.DESCRIPTOR.oneofs_by_name["feature"].fields)
                              + ".", path=path)
        feature = getattr(wrapper, kind)
        path = f"{path}.{kind}"
        if not feature.name:
            raise ConfigError("every feature needs a name.", path=path + ".name")
        if feature.name in features:
            raise ConfigError(f"duplicate feature name {feature.name!r}.", path=path + ".name")
        KINDS[kind].validate(feature, context, path)
        dim = getattr(feature, "embedding_dim", 0)
        if getattr(feature, "embedding_name", "") and dim:
            other = shared_dims.setdefault(feature.embedding_name, (dim, path))
            if other[0] != dim:
                raise ConfigError(f"shares embedding {feature.embedding_name!r} with {other[1]} but has "
                                  f"embedding_dim {dim} instead of {other[0]}.", path=path + ".embedding_dim")
        features[feature.name] = (wrapper, path)
    return features


def _validate_groups(groups, features):
    names = _unique([g.name for g in groups], "model_config.feature_groups[{i}].name", "feature group")
    for i, group in enumerate(groups):
        path = f"model_config.feature_groups[{i}]"
        if not group.feature_names:
            raise ConfigError(f"feature group {group.name!r} has no feature_names.", path=path)
        for j, name in enumerate(group.feature_names):
            if name in list(group.feature_names)[:j]:
                raise ConfigError(f"feature {name!r} is listed twice in group {group.name!r}.",
                                  path=f"{path}.feature_names[{j}]")
            if name not in features:
                raise ConfigError(f"unknown feature {name!r}; known features: {', '.join(sorted(features))}.",
                                  path=f"{path}.feature_names[{j}]")
        max_lens = {features[n][0].sequence_feature.max_len for n in group.feature_names
                    if features[n][0].WhichOneof("feature") == "sequence_feature"}
        if len(max_lens) > 1:
            raise ConfigError(f"the sequence features of group {group.name!r} have different max_len "
                              f"({sorted(max_lens)}); aligned sequences need one max_len.", path=path)
    return names


def _validate_backbone(backbone, groups, base="model_config.backbone"):
    """Checks names, inputs and acyclicity; returns the block names."""
    names = _unique([b.name for b in backbone.blocks], base + ".blocks[{i}].name", "block")
    edges = {}
    for i, block in enumerate(backbone.blocks):
        path = f'{base}.blocks[{i}]'
        if block.WhichOneof("layer") is None:
            choices = [f.name for f in block.DESCRIPTOR.oneofs_by_name["layer"].fields]
            raise ConfigError(f"block {block.name!r} has no layer type; set one of {', '.join(choices)}.",
                              path=path)
        if not block.inputs:
            raise ConfigError(f"block {block.name!r} has no inputs.", path=path)
        for j, source in enumerate(block.inputs):
            _check_input(source, groups, names, f"{path}.inputs[{j}]")
        edges[block.name] = [s.block for s in block.inputs if s.WhichOneof("source") == "block"]
    cycle = _find_cycle([b.name for b in backbone.blocks], edges)
    if cycle:
        index = [b.name for b in backbone.blocks].index(cycle[0])
        raise ConfigError("the block graph has a cycle: " + " -> ".join(cycle) + ".",
                          path=f"{base}.blocks[{index}]")
    if backbone.output_block and backbone.output_block not in names:
        raise ConfigError(f"no block named {backbone.output_block!r}.", path=base + ".output_block")
    return names


def _check_input(source, groups, blocks, path):
    kind = source.WhichOneof("source")
    if kind is None:
        raise ConfigError("set feature_group or block.", path=path)
    name = getattr(source, kind)
    known = groups if kind == "feature_group" else blocks
    if name not in known:
        raise ConfigError(f"no {kind.replace('_', ' ')} named {name!r}; known: {', '.join(sorted(known)) or 'none'}.",
                          path=f"{path}.{kind}")
    if source.HasField("output_index") and source.output_name:
        raise ConfigError("set output_index or output_name, not both.", path=path + ".output_name")


def _find_cycle(order, edges):
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in edges.get(node, []):
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in order:
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


GROUPED_METRICS = (model_pb2.TaskConfig.GAUC, model_pb2.TaskConfig.PRECISION_AT_K,
                   model_pb2.TaskConfig.RECALL_AT_K)


def _validate_tasks(tasks, data, fields, groups, blocks):
    if not tasks:
        raise ConfigError("no tasks: add at least one tasks { name label loss }.", path="model_config.tasks")
    _unique([t.name for t in tasks], "model_config.tasks[{i}].name", "task")
    if not blocks and not any(t.HasField("input") for t in tasks):
        raise ConfigError("the backbone has no blocks; add blocks or give each task an input.",
                          path="model_config.backbone")
    for i, task in enumerate(tasks):
        path = f"model_config.tasks[{i}]"
        if task.label not in data.label_fields:
            raise ConfigError(f"label {task.label!r} is not among data_config.label_fields "
                              f"({', '.join(data.label_fields) or 'none'}).", path=path + ".label")
        Task = model_pb2.TaskConfig
        grouped = [Task.Metric.Name(m) for m in task.metrics if m in GROUPED_METRICS]
        if grouped and task.group_field not in fields:
            names = sorted(set(grouped))
            raise ConfigError(f"{' and '.join(names)} need{'s' if len(names) == 1 else ''} group_field, an input "
                              "field such as user_id.", path=path + ".group_field")
        if task.group_field in fields and fields[task.group_field].length:
            raise ConfigError(f"group_field {task.group_field!r} is a vector (length); name a field with one "
                              "value per row, such as user_id.", path=path + ".group_field")
        if task.top_k < 1:
            raise ConfigError(f"must be at least 1. Received: {task.top_k}.", path=path + ".top_k")
        _validate_task_loss(task, tasks[:i], data, fields, path)
        if task.HasField("input"):
            _check_input(task.input, groups, blocks, path + ".input")
        if task.loss_weight < 0:
            raise ConfigError(f"must be non-negative. Received: {task.loss_weight}.", path=path + ".loss_weight")
        for j, piece in enumerate(task.slices):
            _check_slice(piece, data, fields, f"{path}.slices[{j}]")


_PROBABILITY_METRICS = (model_pb2.TaskConfig.LOGLOSS, model_pb2.TaskConfig.ACCURACY,
                        model_pb2.TaskConfig.CALIBRATION, model_pb2.TaskConfig.NORMALIZED_ENTROPY)


def _validate_task_loss(task, earlier, data, fields, path):
    """The loss's own fields, the per-task weight and mask fields, ESMM and task relations."""
    Task = model_pb2.TaskConfig
    binary = (Task.BINARY_CROSS_ENTROPY, Task.FOCAL)
    metric_names = [Task.Metric.Name(m) for m in task.metrics]
    if task.loss == Task.FOCAL:
        if task.focal_gamma < 0:
            raise ConfigError(f"must be >= 0. Received: {task.focal_gamma}.", path=path + ".focal_gamma")
        if task.focal_alpha > 1:
            raise ConfigError(f"must be in [0, 1] (or negative for no class weights). Received: "
                              f"{task.focal_alpha}.", path=path + ".focal_alpha")
    if task.loss == Task.SOFTMAX_CROSS_ENTROPY:
        if task.num_classes < 2:
            raise ConfigError(f"SOFTMAX_CROSS_ENTROPY needs num_classes >= 2. Received: {task.num_classes}.",
                              path=path + ".num_classes")
        allowed = {"AUC", "LOGLOSS", "ACCURACY"}
        if set(metric_names) - allowed:
            raise ConfigError(f"a multi-class task supports the metrics {sorted(allowed)}. Received: "
                              f"{metric_names}.", path=path + ".metrics")
    elif task.HasField("num_classes"):
        raise ConfigError("num_classes is for loss SOFTMAX_CROSS_ENTROPY.", path=path + ".num_classes")
    if task.loss in (Task.PAIRWISE_LOGISTIC, Task.LISTWISE_SOFTMAX):
        if not task.group_field or (task.group_field not in fields):
            raise ConfigError(f"{Task.Loss.Name(task.loss)} ranks rows within groups: set group_field to an "
                              "input field such as user_id or a query id.", path=path + ".group_field")
        bad = [m for m in task.metrics if m in _PROBABILITY_METRICS]
        if bad:
            raise ConfigError(f"a ranking loss gives scores, not probabilities; "
                              f"{', '.join(Task.Metric.Name(m) for m in bad)} do not apply (use AUC, GAUC, "
                              "PRECISION_AT_K, RECALL_AT_K).", path=path + ".metrics")
    targets = set(data.label_fields) | ({data.sample_weight_field} if data.sample_weight_field else set())
    for name in ("sample_weight_field", "mask_field"):
        value = getattr(task, name)
        if not value:
            continue
        field = fields.get(value)
        if field is None or field.length or (value not in targets and field.type == data_pb2.InputField.STRING):
            raise ConfigError(f"{value!r} is not a label or numeric input field of data_config.",
                              path=f"{path}.{name}")
    if task.esmm_parent:
        parent = [t for t in earlier if t.name == task.esmm_parent]
        if not parent:
            raise ConfigError(f"esmm_parent {task.esmm_parent!r} is not a task defined before this one.",
                              path=path + ".esmm_parent")
        if task.loss not in binary or parent[0].loss not in binary:
            raise ConfigError("ESMM multiplies probabilities: this task and its parent need a binary loss "
                              "(BINARY_CROSS_ENTROPY or FOCAL).", path=path + ".esmm_parent")
    names = {t.name: t for t in earlier}
    if len(set(task.relation_tasks)) != len(task.relation_tasks):
        raise ConfigError(f"names a task twice: {list(task.relation_tasks)}.", path=path + ".relation_tasks")
    for j, name in enumerate(task.relation_tasks):
        if name not in names:
            raise ConfigError(f"{name!r} is not a task defined before this one.",
                              path=f"{path}.relation_tasks[{j}]")
        if not names[name].HasField("tower"):
            raise ConfigError(f"task {name!r} has no tower to read; give it a tower.",
                              path=f"{path}.relation_tasks[{j}]")


def _check_slice(piece, data, fields, path):
    """A metric slice names a non-label input field and a value of its type."""
    if piece.field not in fields or piece.field in data.label_fields or fields[piece.field].length:
        raise ConfigError(f"slice field {piece.field!r} is not a non-label input field; name a "
                          "column of data_config.input_fields.",
                          path=path + ".field")
    if not piece.value:
        raise ConfigError('set the value selecting rows, e.g. value: "1".', path=path + ".value")
    if fields[piece.field].type != data_pb2.InputField.STRING:
        try:
            float(piece.value)
        except ValueError:
            raise ConfigError(f"{piece.field!r} is numeric but value {piece.value!r} is not a number.",
                              path=path + ".value") from None


def _validate_train(train):
    path = "train_config"
    if train.num_steps < 0:
        raise ConfigError(f"must be positive, or 0 to train num_epochs. Received: {train.num_steps}.",
                          path=path + ".num_steps")
    if train.num_epochs < 0:
        raise ConfigError(f"must be positive. Received: {train.num_epochs}.", path=path + ".num_epochs")
    if train.num_epochs <= 0 and train.num_steps <= 0:
        raise ConfigError("set num_epochs or num_steps to a positive number.", path=path + ".num_epochs")
    if train.optimizer.clip_norm < 0:
        raise ConfigError(f"must be positive, or 0 for no clipping. Received: {train.optimizer.clip_norm}.",
                          path=path + ".optimizer.clip_norm")
    if train.keep_checkpoint_max <= 0:
        raise ConfigError(f"must be positive. Received: {train.keep_checkpoint_max}.",
                          path=path + ".keep_checkpoint_max")
    kind = train.optimizer.WhichOneof("optimizer")
    if kind:
        opt = getattr(train.optimizer, kind)
        if opt.learning_rate <= 0:
            raise ConfigError(f"must be positive. Received: {opt.learning_rate}.",
                              path=f"{path}.optimizer.{kind}.learning_rate")
        _check_ftrl(opt, f"{path}.optimizer.{kind}")
        schedule = opt.schedule
        if schedule.warmup_steps < 0:
            raise ConfigError(f"must be non-negative. Received: {schedule.warmup_steps}.",
                              path=f"{path}.optimizer.{kind}.schedule.warmup_steps")
        decay = schedule.WhichOneof("decay")
        spath = f"{path}.optimizer.{kind}.schedule.{decay}"
        if decay in ("exponential_decay", "cosine_decay") and getattr(schedule, decay).decay_steps <= 0:
            raise ConfigError("decay_steps must be positive.", path=spath + ".decay_steps")
        if decay == "piecewise_constant":
            pc = schedule.piecewise_constant
            if len(pc.multipliers) != len(pc.boundaries) + 1:
                raise ConfigError(f"needs one more multiplier than boundaries. Received: "
                                  f"{len(pc.boundaries)} boundaries, {len(pc.multipliers)} multipliers.",
                                  path=spath)
    for name in ("save_checkpoints_steps", "log_step_count_steps", "save_summary_steps", "steps_per_execution"):
        if getattr(train, name) <= 0:
            raise ConfigError(f"must be positive. Received: {getattr(train, name)}.", path=f"{path}.{name}")
    _validate_distribution(train, path)


def _validate_eval(eval_config):
    zero = {"batch_size": "data_config.batch_size", "num_eval_steps": "all the eval data",
            "eval_interval_steps": "only at the end"}
    for name, meaning in zero.items():
        if getattr(eval_config, name) < 0:
            raise ConfigError(f"must be positive, or 0 for {meaning}. Received: {getattr(eval_config, name)}.",
                              path=f"eval_config.{name}")


def _validate_export(export, tasks):
    path = "export_config"
    if export.exporter == export_pb2.ExportConfig.BEST:
        if not export.metric:
            raise ConfigError('exporter BEST needs a metric, e.g. metric: "income/auc".',
                              path=path + ".metric")
        keys = metric_keys(tasks)
        if export.metric not in keys:
            raise ConfigError(f"evaluation never reports {export.metric!r}, so BEST would never "
                              f"export; the tasks' metrics are: {', '.join(sorted(keys))}.",
                              path=path + ".metric")
    if export.exporter == export_pb2.ExportConfig.NONE and export.HasField("export_dir"):
        raise ConfigError("exporter NONE exports nothing: remove export_dir, or pick another exporter.",
                          path=path + ".export_dir")
    for name in ("keep", "num_warmup_rows"):
        if getattr(export, name) < 0:
            raise ConfigError(f"must be non-negative. Received: {getattr(export, name)}.",
                              path=f"{path}.{name}")
    if not _MODEL_NAME.match(export.model_name):
        raise ConfigError(f"{export.model_name!r} is not a TF Serving model name: use letters, "
                          "digits, '_', '-' and '.'.", path=path + ".model_name")


def _validate_distribution(train, path):
    precisions = ("", "float32", "mixed_float16", "mixed_bfloat16")
    if train.mixed_precision not in precisions:
        raise ConfigError(f"must be one of {', '.join(repr(p) for p in precisions)}. "
                          f"Received: {train.mixed_precision!r}.", path=f"{path}.mixed_precision")
    dist = train.distribution
    if train.mixed_precision.startswith("mixed") and dist.strategy == dist.PARAMETER_SERVER:
        raise ConfigError(
            f"{train.mixed_precision} cannot train under strategy PARAMETER_SERVER, whatever the "
            "embedding optimizer: tf_keras applies no loss scaling there (mixed_float16), and a "
            "16-bit layer cannot read a weight partitioned over the ps tasks (mixed_bfloat16: "
            "'variable must be of type tf.ResourceVariable'). Use float32, or strategy "
            "MULTI_WORKER_MIRRORED or MIRRORED for mixed precision.",
            path=f"{path}.mixed_precision")
    if dist.devices and dist.strategy != dist.MIRRORED:
        raise ConfigError("devices only applies to strategy MIRRORED.",
                          path=f"{path}.distribution.devices")
    if dist.min_shard_bytes < 0 or dist.collective_timeout_seconds < 0:
        raise ConfigError("min_shard_bytes and collective_timeout_seconds must be >= 0.",
                          path=f"{path}.distribution")


validate_pipeline = validate


def _check_ftrl(opt, path):
    """FTRL's learning_rate_power <= 0 and regularization strengths >= 0 (else TF fails at the
    first step with a stack trace)."""
    fields = opt.DESCRIPTOR.fields_by_name
    if "learning_rate_power" in fields and opt.learning_rate_power > 0:
        raise ConfigError(f"must be 0 or negative (-0.5, the default, is AdaGrad-like decay; 0 a "
                          f"constant rate). Received: {opt.learning_rate_power:g}.",
                          path=path + ".learning_rate_power")
    for name in ("l1_regularization_strength", "l2_regularization_strength"):
        if name in fields and getattr(opt, name) < 0:
            raise ConfigError(f"must be 0 or positive. Received: {getattr(opt, name):g}.",
                              path=f"{path}.{name}")


# ---- Embedding tables: optimizer and memory (issue 13; the estimate: easyrank/embeddings) ----


def validate_embedding_tables(config, memory_bytes=None, device=None):
    """The embedding optimizer's settings, and tables plus slots within the run's memory.

    `memory_bytes`: the memory of one machine (default: this machine's, or its cgroup
    limit); PARAMETER_SERVER runs may use that much on each ps task of TF_CONFIG.
    `device`: where `memory_bytes` is, for the message (e.g. "GPU:0 (NVIDIA H100) has").
    """
    train = config.train_config
    path = "train_config.embedding_optimizer"
    kind = train.embedding_optimizer.WhichOneof("optimizer")
    if kind and kind != "use_dense_optimizer":
        opt = getattr(train.embedding_optimizer, kind)
        if opt.learning_rate <= 0:
            raise ConfigError(f"must be positive. Received: {opt.learning_rate}.",
                              path=f"{path}.{kind}.learning_rate")
        _check_ftrl(opt, f"{path}.{kind}")
    memory.check_tables_fit(embedding_tables(config.feature_configs), train, memory_bytes, device)
