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
from easyrank.errors import ConfigError
from easyrank.features import FeatureGroups, build_columns
from easyrank.layers.mlp import MLP
from easyrank.models.heads import LOSSES, TaskHead, TaskSpec
from easyrank.models.rank_model import RankModel


def build_model(config):
    """Builds a RankModel and creates its variables (call inside strategy.scope())."""
    model = compile_model(config)
    model(model.dummy_features(), training=False)
    return model


def compile_model(config):
    """The RankModel of `config`, its variables not yet created."""
    model_config = config.model_config
    groups = [(g.name, list(g.feature_names)) for g in model_config.feature_groups]
    # float32 whatever the mixed precision policy: lookups and transforms stay exact.
    feature_groups = FeatureGroups(build_columns(config.feature_configs), groups,
                                   embedding_l2=model_config.embedding_l2, dtype="float32")
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
                     config.data_config.sample_weight_field or None)


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
        raise ConfigError("set loss to BINARY_CROSS_ENTROPY or MEAN_SQUARED_ERROR.",
                          path=path + ".loss")
    tower = None
    if task.HasField("tower"):
        kwargs = mlp_kwargs(task.tower, path + ".tower")
        try:
            tower = MLP(name="tower", **kwargs)
        except ValueError as e:
            raise ConfigError(str(e), path=path + ".tower") from None
    spec = TaskSpec(task.name, task.label, LOSSES[task.loss], task.loss_weight, ref)
    return spec, TaskHead(task.name, spec.loss == "binary_cross_entropy", tower)
