"""Builders of the multi-task and gating blocks: mmoe, ple, poso, poso_mmoe.

Input conventions (documented in block.proto):
  mmoe       inputs -> (expert_input, gate_input); the last `num_gate_inputs`
             inputs form the gate input (0: the gates read the expert input).
  poso       the last input is the personalisation input x_pc; the others
             are concatenated into the main input x.
  poso_mmoe  the last input is x_pc; the `num_gate_inputs` before it form the
             gate input; the rest the expert input.
Inputs are concatenated (rank-3 ones flattened) within each group.
"""

from easyrank.backbone.registry import register_block
from easyrank.errors import ConfigError
from easyrank.layers.mmoe import MMoE
from easyrank.layers.ple import PLE
from easyrank.layers.poso import POSOMLP, POSOMMoE


def _num_tasks(message, path):
    """K from num_tasks and/or task_names (they must agree)."""
    names = list(message.task_names)
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"task_names must be unique and non-empty. Received: {names}.",
                          path=path + ".task_names")
    if message.HasField("num_tasks"):
        if names and len(names) != message.num_tasks:
            raise ConfigError(f"num_tasks is {message.num_tasks} but task_names has {len(names)} "
                              "names; set one of them or make them agree.",
                              path=path + ".num_tasks")
        return message.num_tasks
    if not names:
        raise ConfigError("set num_tasks or task_names (one output per task).",
                          path=path + ".num_tasks")
    return len(names)


def _mmoe_kwargs(message, path):
    if not message.expert_units:
        raise ConfigError("needs expert_units, e.g. expert_units: [256, 128].",
                          path=path + ".expert_units")
    return dict(num_experts=message.num_experts, expert_units=list(message.expert_units),
                num_tasks=_num_tasks(message, path), gate_units=list(message.gate_units),
                expert_activation=message.expert_activation,
                gate_activation=message.gate_activation, dropout_rate=message.dropout_rate,
                gate_use_bias=message.gate_use_bias)


def _build(layer_class, kwargs, context, field):
    """Builds the layer; its argument errors become ConfigErrors at the block's path."""
    try:
        return layer_class(name=context.name, **kwargs)
    except ValueError as e:
        raise ConfigError(str(e), path=f"{context.path}.{field}") from None


def _split(num_inputs, num_gate_inputs, num_pc_inputs, path, field):
    """Group sizes (experts[, gates][, x_pc]) of the block's inputs."""
    if num_gate_inputs < 0:
        raise ConfigError(f"must be >= 0. Received: {num_gate_inputs}.",
                          path=f"{path}.{field}.num_gate_inputs")
    num_main = num_inputs - num_gate_inputs - num_pc_inputs
    if num_main < 1:
        need = 1 + num_gate_inputs + num_pc_inputs
        raise ConfigError(f"block has {num_inputs} inputs but needs at least {need}: the main "
                          f"input, {num_gate_inputs} gate input(s)"
                          + (" and the personalisation input (last)" if num_pc_inputs else "")
                          + ".", path=path + ".inputs")
    return [num_main] + ([num_gate_inputs] if num_gate_inputs else []) + [1] * num_pc_inputs


def _mmoe_groups(message, num_inputs, path):
    return _split(num_inputs, message.num_gate_inputs, 0, path, "mmoe")


def _poso_groups(message, num_inputs, path):
    del message
    return _split(num_inputs, 0, 1, path, "poso")


def _poso_mmoe_groups(message, num_inputs, path):
    return _split(num_inputs, message.num_gate_inputs, 1, path, "poso_mmoe")


def _task_names(message):
    return list(message.task_names)


def _num_outputs(message):
    """K, one output per task (the builder checked num_tasks and task_names agree)."""
    return message.num_tasks if message.HasField("num_tasks") else len(message.task_names)


@register_block("mmoe", merge_inputs=_mmoe_groups, output_names=_task_names,
                num_outputs=_num_outputs)
def build_mmoe(message, context):
    """MMoE: one output per task; num_experts = 1 is shared-bottom."""
    kwargs = _mmoe_kwargs(message, context.path + ".mmoe")
    return _build(MMoE, kwargs, context, "mmoe")


@register_block("poso", merge_inputs=_poso_groups)
def build_poso(message, context):
    """POSO gated MLP on (x, x_pc)."""
    path = context.path + ".poso"
    if not message.hidden_units:
        raise ConfigError("needs hidden_units, e.g. hidden_units: [256, 128].",
                          path=path + ".hidden_units")
    kwargs = dict(hidden_units=list(message.hidden_units), activation=message.activation,
                  dropout_rate=message.dropout_rate, gate_units=list(message.gate_units),
                  gate_activation=message.gate_activation, gate_scale=message.gate_scale)
    return _build(POSOMLP, kwargs, context, "poso")


@register_block("poso_mmoe", merge_inputs=_poso_mmoe_groups, output_names=_task_names,
                num_outputs=_num_outputs)
def build_poso_mmoe(message, context):
    """POSO-MMoE on (x, x_pc) or (expert_input, gate_input, x_pc)."""
    kwargs = _mmoe_kwargs(message, context.path + ".poso_mmoe")
    kwargs.update(poso_gate_units=list(message.poso_gate_units),
                  poso_gate_activation=message.poso_gate_activation,
                  gate_scale=message.gate_scale)
    return _build(POSOMMoE, kwargs, context, "poso_mmoe")


@register_block("ple", output_names=_task_names, num_outputs=_num_outputs)
def build_ple(message, context):
    """PLE (CGC with num_levels 1): one output per task."""
    path = context.path + ".ple"
    if not message.expert_units:
        raise ConfigError("needs expert_units, e.g. expert_units: [256, 128].", path=path + ".expert_units")
    kwargs = dict(num_tasks=_num_tasks(message, path), expert_units=list(message.expert_units),
                  num_levels=message.num_levels, num_task_experts=message.num_task_experts,
                  num_shared_experts=message.num_shared_experts,
                  expert_activation=message.expert_activation, dropout_rate=message.dropout_rate)
    return _build(PLE, kwargs, context, "ple")
