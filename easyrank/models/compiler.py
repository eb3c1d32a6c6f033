"""Compiles a validated PipelineConfig into a RankModel: built layers and plain wiring.

    model = build_model(config)          # inside strategy.scope()

This is the one place where config messages become layers. Every config mistake
that validation could not see (block parameters, shapes of feature groups against
the blocks reading them, outputs of multi-output blocks, towers) is a ConfigError
raised here; the Keras layers receive plain Python values and never raise one.
"""

from easyrank.backbone import InputRef, compile_backbone, compile_input
from easyrank.backbone.builders import mlp_kwargs
from easyrank.data import input_signature_fields
from easyrank.embeddings.initializers import UNIFORM, ZEROS
from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups, build_columns
from easyrank.layers.mlp import MLP
from easyrank.models.heads import BINARY_LOSSES, LOSSES, Task, TaskHead, TaskSpec
from easyrank.models.rank_model import RankModel


def build_model(config):
    """Builds a RankModel (a RetrievalModel for model_config.retrieval) and creates its
    variables (call inside strategy.scope())."""
    if config.model_config.HasField("retrieval"):
        from easyrank.models.retrieval_compiler import build_retrieval_model
        return build_retrieval_model(config, default_table_init(config.train_config))
    model = compile_model(config)
    model(model.dummy_features(), training=False)
    return model


def compile_model(config):
    """The RankModel of `config`, its variables not yet created."""
    model_config = config.model_config
    groups = [(g.name, list(g.feature_names)) for g in model_config.feature_groups]
    # float32 whatever the mixed precision policy: lookups and transforms stay exact.
    feature_groups = FeatureGroups(build_columns(config.feature_configs), groups,
                                   embedding_l2=model_config.embedding_l2,
                                   default_table_init=default_table_init(config.train_config),
                                   dtype="float32")
    group_shapes = feature_groups.output_shapes()
    backbone, outputs = compile_backbone(model_config.backbone, group_shapes,
                                         seed=config.train_config.seed)
    tasks, heads = [], []
    for i, task in enumerate(model_config.tasks):
        spec, head = compile_task(task, f"model_config.tasks[{i}]", group_shapes, outputs,
                                  backbone.output_block)
        tasks.append(spec)
        heads.append(head)
    return RankModel(feature_groups, backbone, tasks, heads,
                     input_signature_fields(config.data_config),
                     config.data_config.sample_weight_field or None, dense_l2=model_config.dense_l2)


def default_table_init(train_config):
    """How tables whose feature sets no initializer start: ZEROS when FTRL updates them
    (train_config.embedding_optimizer.ftrl, or an ftrl train_config.optimizer with no
    embedding optimizer or use_dense_optimizer), else UNIFORM.

    FTRL-Proximal's weights start at 0, and tf_keras' Ftrl recomputes every row from its
    `linear` slot at every step, so its first step sets each row without a gradient to 0:
    a dense-FTRL table effectively starts at zero whatever its initializer. The row-wise form
    leaves an untouched row as it is; starting it at 0 makes ids that training never saw read
    0, as under dense FTRL, instead of a random vector.
    """
    kind = train_config.embedding_optimizer.WhichOneof("optimizer")
    if kind in (None, "use_dense_optimizer"):
        kind = train_config.optimizer.WhichOneof("optimizer")
    return ZEROS if kind == "ftrl" else UNIFORM


def compile_task(task, path, group_shapes, outputs, output_block):
    """(TaskSpec, TaskHead) of a TaskConfig; it reads `output_block` unless it sets input."""
    reader = f"task {task.name!r}"
    if task.HasField("input"):
        ref, _ = compile_input(task.input, group_shapes, outputs, path=path + ".input",
                               reader=reader)
    else:
        if outputs[output_block].count is not None:
            raise ConfigError(f"{reader} reads block {output_block!r}, which has one output per "
                              "task; pick one with input { block: ... output_index: k } or "
                              "output_name.", path=path + ".input")
        ref = InputRef(output_block)
    if task.loss not in LOSSES:
        raise ConfigError(f"set loss to one of {', '.join(Task.Loss.Name(k) for k in LOSSES)}.",
                          path=path + ".loss")
    tower = None
    if task.HasField("tower"):
        kwargs = mlp_kwargs(task.tower, path + ".tower")
        try:
            tower = MLP(name="tower", **kwargs)
        except ValueError as e:
            raise ConfigError(str(e), path=path + ".tower") from None
    num_classes = task.num_classes if task.loss == Task.SOFTMAX_CROSS_ENTROPY else 1
    spec = TaskSpec(task.name, task.label, LOSSES[task.loss], task.loss_weight, ref,
                    num_classes=num_classes, focal_gamma=task.focal_gamma, focal_alpha=task.focal_alpha,
                    group_field=task.group_field or None,
                    weight_field=task.sample_weight_field or None, mask_field=task.mask_field or None,
                    ignore_label_value=(task.ignore_label_value if task.HasField("ignore_label_value")
                                        else None),
                    esmm_parent=task.esmm_parent or None, relation_tasks=tuple(task.relation_tasks),
                    label_threshold=task.label_threshold if task.HasField("label_threshold") else None)
    classification = task.loss in BINARY_LOSSES or task.loss == Task.SOFTMAX_CROSS_ENTROPY
    return spec, TaskHead(task.name, classification, tower, num_classes=num_classes)
