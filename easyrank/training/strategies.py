"""The tf.distribute strategy of a run, and who in a cluster writes what.

train_config.distribution picks the strategy; multi-worker strategies read
the cluster from TF_CONFIG (set by `python -m easyrank.launch` or by the
scheduler):

    TF_CONFIG='{"cluster": {"worker": ["host0:2222", "host1:2222"]},
                "task": {"type": "worker", "index": 0}}'

The chief (task "chief", or worker 0 when the cluster has no chief) alone
writes checkpoints, summaries, eval results and exports into model_dir;
other workers write their copies of collective checkpoints into a private
temporary directory that is deleted at the end (docs/distributed.md).
"""

import json
import logging
import os
import shutil
import tempfile

import tensorflow as tf

from easyrank.errors import ConfigError
from easyrank.protos import train_pb2

logger = logging.getLogger(__name__)

_Dist = train_pb2.DistributionConfig


def tf_config():
    """The parsed TF_CONFIG environment variable ({} when unset)."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({e}): {text[:200]!r}.") from e
    if not isinstance(value, dict):
        raise ConfigError(f"TF_CONFIG must be a JSON object, got {text[:200]!r}.")
    return value


def task():
    """(task_type, task_index) from TF_CONFIG, or (None, 0) outside a cluster."""
    spec = tf_config().get("task") or {}
    return spec.get("type"), int(spec.get("index", 0))


def cluster_size():
    """Number of training tasks in TF_CONFIG's cluster (0 when unset; the evaluator not counted)."""
    cluster = tf_config().get("cluster") or {}
    return sum(len(addresses) for role, addresses in cluster.items() if role != "evaluator")


def has_evaluator():
    """True when TF_CONFIG's cluster has an "evaluator" task (training/evaluator_task.py)."""
    return bool((tf_config().get("cluster") or {}).get("evaluator"))


def training_resolver():
    """TF_CONFIG's cluster resolver without the evaluator, which runs no tf.distribute server."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if not has_evaluator():
        return resolver
    jobs = {k: v for k, v in resolver.cluster_spec().as_dict().items() if k != "evaluator"}
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(jobs), task_type=resolver.task_type, task_id=resolver.task_id,
        rpc_layer=resolver.rpc_layer or "grpc")


def is_chief():
    """True for the task that writes model_dir: "chief", or worker 0 without a chief."""
    task_type, index = task()
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    has_chief = bool((tf_config().get("cluster") or {}).get("chief"))
    return task_type == "worker" and index == 0 and not has_chief


def strategy_name(train_config):
    return _Dist.Strategy.Name(train_config.distribution.strategy)


def is_server_task(train_config):
    """True for the worker and ps tasks of a PARAMETER_SERVER run (they only serve)."""
    if train_config.distribution.strategy != _Dist.PARAMETER_SERVER:
        return False
    return task()[0] in ("worker", "ps")


def run_server():
    """Starts this task's tf.distribute.Server and serves until killed."""
    resolver = training_resolver()
    task_type, index = task()
    logger.info("Starting the %s:%d server of a parameter-server run.", task_type, index)
    if task_type == "worker":
        os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=task_type, task_index=index,
                                  protocol=resolver.rpc_layer or "grpc", start=True)
    server.join()


def _cross_device_ops(devices):
    """ReductionToOneDevice when no device is a GPU (what tf.distribute's own
    select_cross_device_ops picks for such devices), else MirroredStrategy's default
    (collectives, NCCL on GPUs).

    The collectives all-gather each sparse gradient (every embedding table's) under a
    cond on its size: on two CPU devices that made a MIRRORED run of census_mlp cost
    26.5-30.3 CPU-seconds against 17.0 reduced on one device, for the same sums (issue 23).
    """
    if devices is None:
        gpu = bool(tf.config.list_logical_devices("GPU"))
    else:
        gpu = any(tf.DeviceSpec.from_string(d).device_type == "GPU" for d in devices)
    return None if gpu else tf.distribute.ReductionToOneDevice()


def build_strategy(train_config):
    """The strategy for `train_config.distribution` (the default strategy when unset)."""
    dist = train_config.distribution
    path = "train_config.distribution.strategy"
    kind = dist.strategy
    multi = cluster_size() > 1
    if kind in (_Dist.DEFAULT, _Dist.MIRRORED) and multi:
        raise ConfigError(
            f"TF_CONFIG describes a cluster of {cluster_size()} tasks but the strategy is "
            f"{strategy_name(train_config)}, which trains on one machine; set "
            "train_config.distribution { strategy: MULTI_WORKER_MIRRORED } or PARAMETER_SERVER, "
            "or unset TF_CONFIG.", path=path)
    if kind == _Dist.DEFAULT:
        return tf.distribute.get_strategy()
    if kind == _Dist.MIRRORED:
        devices = list(dist.devices) or None
        if devices is None and not tf.config.list_logical_devices("GPU"):
            cpus = tf.config.list_logical_devices("CPU")
            devices = [d.name for d in cpus] if len(cpus) > 1 else None
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=_cross_device_ops(devices))
    if kind == _Dist.MULTI_WORKER_MIRRORED:
        if multi and not train_config.num_steps:
            raise ConfigError("MULTI_WORKER_MIRRORED training needs train_config.num_steps > 0 "
                              "so that every worker runs the same number of steps.",
                              path="train_config.num_steps")
        options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=dist.collective_timeout_seconds or None)
        return tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=training_resolver() if has_evaluator() else None,
            communication_options=options)
    if kind == _Dist.PARAMETER_SERVER:
        cluster = tf_config().get("cluster") or {}
        if not cluster.get("ps") or not cluster.get("worker"):
            raise ConfigError(
                "PARAMETER_SERVER needs TF_CONFIG with \"chief\", \"worker\" and \"ps\" tasks; "
                "start the run with `python -m easyrank.launch --num_workers 2 --num_ps 1 -- ...` "
                "or a scheduler that sets TF_CONFIG (docs/distributed.md).", path=path)
        if not train_config.num_steps:
            raise ConfigError("PARAMETER_SERVER training needs train_config.num_steps > 0 "
                              "(workers read their input without end).",
                              path="train_config.num_steps")
        partitioner = None
        if dist.min_shard_bytes > 0:
            partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
                min_shard_bytes=dist.min_shard_bytes, max_shards=len(cluster["ps"]))
        # Fail RPCs to a lost worker at once so the coordinator reschedules its steps.
        os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
        resolver = training_resolver()
        return tf.distribute.experimental.ParameterServerStrategy(
            resolver, variable_partitioner=partitioner)
    raise ConfigError(f"unknown strategy {kind}.", path=path)


def is_multi_worker(strategy):
    """True when variables live on or are synchronised with other processes."""
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        return True
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and cluster_size() > 1


def write_dir(model_dir):
    """model_dir for the chief; a fresh private temporary directory for other workers."""
    if is_chief():
        return model_dir
    task_type, index = task()
    return tempfile.mkdtemp(prefix=f"easyrank-{task_type}{index}-")


def cleanup_write_dir(path, model_dir):
    """Deletes a non-chief's temporary directory."""
    if path != model_dir:
        shutil.rmtree(path, ignore_errors=True)
