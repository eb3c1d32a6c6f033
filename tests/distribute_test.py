"""Strategies, chief-only writes, the launcher and fault tolerance (issue 7).

Every process a test starts runs in its own process group and is killed by
the test (the launcher kills its tasks); every wait has a timeout.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import pytest

from easyrank.errors import ConfigError
from easyrank.protos import train_pb2
from easyrank.training import local_cluster, strategies

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "samples/configs/census_mlp.config")
TINY = os.path.join(ROOT, "tests/data/census_tiny.csv")


def edits(**extra):
    value = {"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 32,
             "train_config.log_step_count_steps": 1,
             # A small model: these tests are about processes and numbers, not accuracy.
             "model_config.feature_groups[0].feature_names": ["age", "education", "sex",
                                                             "marital_stat", "weeks_worked"],
             "model_config.backbone.blocks[0].mlp.hidden_units": [16]}
    value.update({k.replace("__", "."): v for k, v in extra.items()})
    return json.dumps(value)


def train_args(model_dir, **extra):
    return ["--pipeline_config_path", CONFIG, "--model_dir", str(model_dir),
            "--edit_config_json", edits(**extra)]


def run_bounded(command, timeout, env=None, tmp=None):
    """Runs `command` in its own process group; kills the group on timeout."""
    if tmp is not None:  # non-chief workers' temporary directories land in the test's tmp_path
        env = dict(env or os.environ, TMPDIR=str(tmp))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out.decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def launcher(num_workers, num_ps, args, timeout, module=None):
    command = [sys.executable, "-m", "easyrank.launch", "--num_workers", str(num_workers),
               "--num_ps", str(num_ps), "--timeout_seconds", str(timeout)]
    if module:
        command += ["--module", module]
    return command + ["--"] + args


def set_tf_config(monkeypatch, cluster, task_type, index):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": cluster, "task": {"type": task_type, "index": index}}))


# ---- TF_CONFIG, chief and strategy choice ----

def test_chief_is_chief_task_or_worker_zero(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert strategies.is_chief() and strategies.task() == (None, 0)
    workers = {"worker": ["a:1", "b:1"]}
    set_tf_config(monkeypatch, workers, "worker", 0)
    assert strategies.is_chief()
    set_tf_config(monkeypatch, workers, "worker", 1)
    assert not strategies.is_chief()
    ps = {"chief": ["c:1"], "worker": ["a:1"], "ps": ["p:1"]}
    set_tf_config(monkeypatch, ps, "worker", 0)
    assert not strategies.is_chief()
    set_tf_config(monkeypatch, ps, "chief", 0)
    assert strategies.is_chief() and strategies.cluster_size() == 3


def test_single_machine_strategy_in_a_cluster_is_a_config_error(monkeypatch):
    set_tf_config(monkeypatch, {"worker": ["a:1", "b:1"]}, "worker", 0)
    with pytest.raises(ConfigError, match="MULTI_WORKER_MIRRORED"):
        strategies.build_strategy(train_pb2.TrainConfig())


def test_parameter_server_needs_ps_tasks_and_num_steps(monkeypatch):
    train = train_pb2.TrainConfig()
    train.distribution.strategy = train_pb2.DistributionConfig.PARAMETER_SERVER
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        strategies.build_strategy(train)
    set_tf_config(monkeypatch, {"chief": ["c:1"], "worker": ["a:1"], "ps": ["p:1"]}, "chief", 0)
    with pytest.raises(ConfigError, match="num_steps"):
        strategies.build_strategy(train)


def test_bad_tf_config_is_a_config_error(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        strategies.task()


def test_cluster_spec_uses_distinct_local_ports():
    cluster = local_cluster.cluster_spec(2, 1)
    assert sorted(cluster) == ["chief", "ps", "worker"]
    addresses = [a for v in cluster.values() for a in v]
    assert len(addresses) == 4 and len(set(addresses)) == 4
    assert all(a.startswith("127.0.0.1:") for a in addresses)
    assert list(local_cluster.cluster_spec(2, 0)) == ["worker"]


def test_lost_peer_error_is_one_paragraph(monkeypatch):
    import tensorflow as tf

    from easyrank import console
    error = tf.errors.UnavailableError(None, None, (
        "Graph execution error:\n\nDetected at node x defined at:\nFile \"a.py\"\n"
        "Collective ops is aborted by: Error reported from /job:worker/task:1: The following "
        "tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\n"
        "The tasks have crashed.\n\t [[{{node CollectiveReduceV2}}]]"))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert console.cluster_error_message(error) is None
    set_tf_config(monkeypatch, {"worker": ["a:1", "b:1"]}, "worker", 0)
    message = console.cluster_error_message(error)
    assert message.startswith("UnavailableError: The following tasks are unhealthy (stopped "
                              "sending heartbeats):\n/job:worker/replica:0/task:1. A task")
    assert message.endswith("resumes from the latest checkpoint in model_dir.")
    assert console.cluster_error_message(tf.errors.InvalidArgumentError(None, None, "x")) is None


# ---- Mirrored over 2 logical CPUs equals one device ----

_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import easyrank
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras
    from easyrank.training import strategies
    from easyrank.training import loop, model_state
    from easyrank.config import load_config
    weights = {}
    for name in ["DEFAULT", "MIRRORED"]:
        edits = json.loads(sys.argv[1])
        edits["train_config.distribution.strategy"] = name
        config = load_config(sys.argv[2], edits)
        tf_keras.utils.set_random_seed(7)
        strategy = strategies.build_strategy(config.train_config)
        model, _ = model_state.create_model(config, strategy)
        initial = [w.numpy() for w in model.trainable_weights]
        dataset, steps = loop._train_input(config, strategy, 0, 4)
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        weights[name] = [w.numpy() for w in model.trainable_weights]
        print(name, strategy.num_replicas_in_sync, model_state.global_step(model))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["DEFAULT"], weights["MIRRORED"]))
    # How far training moved the weights from their initial values (0 if nothing trained).
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["DEFAULT"], initial))
    print("RESULT", json.dumps({"diff": diff, "moved": moved}))
""")


def test_mirrored_on_two_cpus_matches_one_device(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(_MIRRORED_SCRIPT)
    code, out = run_bounded([sys.executable, str(script), edits(data_config__shuffle=False),
                             CONFIG], timeout=240)
    assert code == 0, out[-3000:]
    assert "DEFAULT 1 4" in out and "MIRRORED 2 4" in out, out[-3000:]
    result = json.loads(out.split("RESULT ")[1].splitlines()[0])
    # 4 Adam steps at 1e-3 move weights by up to ~4e-3 (0 without training): equal weights
    # after training mean equal training.
    assert result["moved"] > 5e-4, result
    assert result["diff"] < 1e-5, result



# ---- Every embedding optimizer under every strategy and precision (issue 13) ----

# train_config.embedding_optimizer settings of the strategy tests ({}: unset, the row-wise
# form of Adam). Every one works under every strategy: validation refuses none.
EMBEDDING_OPTIMIZERS = {
    "default": {},
    "lazy_adam": {"lazy_adam.learning_rate": 0.01},
    "adagrad": {"adagrad.learning_rate": 0.05},
    "rowwise_adagrad": {"rowwise_adagrad.learning_rate": 0.05},
    "ftrl": {"ftrl.learning_rate": 0.05},
    "sgd": {"sgd.learning_rate": 0.5},
    "sgd_momentum": {"sgd.learning_rate": 0.5, "sgd.momentum": 0.9},
    "dense": {"use_dense_optimizer": True},
}


_OPTIMIZER_MATRIX_SCRIPT = textwrap.dedent("""
    import json, sys
    import easyrank
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras
    from easyrank.training import strategies
    from easyrank.training import loop, model_state
    from easyrank.config import load_config
    results = {}
    for optimizer, extra in json.loads(sys.argv[3]).items():
        weights = {}
        for strategy_name, precision in [("DEFAULT", ""), ("MIRRORED", ""),
                                         ("MIRRORED", "mixed_float16"),
                                         ("DEFAULT", "mixed_bfloat16")]:
            edits = dict(json.loads(sys.argv[1]), **extra)
            edits["train_config.distribution.strategy"] = strategy_name
            edits["train_config.mixed_precision"] = precision
            config = load_config(sys.argv[2], edits)
            tf_keras.utils.set_random_seed(7)
            strategy = strategies.build_strategy(config.train_config)
            model, _ = model_state.create_model(config, strategy)
            initial = [w.numpy() for w in model.trainable_weights]
            dataset, steps = loop._train_input(config, strategy, 0, 4)
            history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
            key = strategy_name + "/" + (precision or "float32")
            weights[key] = [w.numpy() for w in model.trainable_weights]
            results[optimizer + " " + key] = {
                "replicas": strategy.num_replicas_in_sync,
                "step": model_state.global_step(model),
                "loss": history.history["loss"][-1],
                "diff": max(float(np.max(np.abs(a - b)))
                            for a, b in zip(weights["DEFAULT/float32"], weights[key])),
                "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(weights[key], initial))}
    print("RESULT", json.dumps(results))
""")


@pytest.mark.slow
def test_every_embedding_optimizer_under_mirrored_and_mixed_precision(tmp_path):
    """MIRRORED on 2 logical CPUs equals one device for every embedding optimizer;
    mixed_float16 (loss scaling) and mixed_bfloat16 train to nearly the same weights."""
    script = tmp_path / "matrix.py"
    script.write_text(_OPTIMIZER_MATRIX_SCRIPT)
    optimizers = {name: {f"train_config.embedding_optimizer.{k}": v for k, v in settings.items()}
                  for name, settings in EMBEDDING_OPTIMIZERS.items()}
    code, out = run_bounded([sys.executable, str(script), edits(data_config__shuffle=False),
                             CONFIG, json.dumps(optimizers)], timeout=1800)
    assert code == 0, out[-3000:]
    results = json.loads(out.split("RESULT ")[1].splitlines()[0])
    assert len(results) == 4 * len(EMBEDDING_OPTIMIZERS)
    for key, result in results.items():
        assert result["step"] == 4 and result["moved"] > 5e-4, (key, result)  # vs initial weights
        assert 0.0 < result["loss"] < 5.0, (key, result)
        if "MIRRORED/float32" in key:
            assert result["replicas"] == 2 and result["diff"] < 1e-5, (key, result)
        else:  # float16 / bfloat16 forward passes: close to float32, not equal
            assert result["diff"] < 0.01, (key, result)

# ---- The launcher: failures, timeouts ----

_FAKE_TASK = textwrap.dedent("""
    import json, os, sys, time
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    print("hello from", task["type"], task["index"], flush=True)
    if task["type"] == "worker" and task["index"] == 1:
        sys.exit(int(sys.argv[1]))
    time.sleep(float(sys.argv[2]))
""")


def _fake_module(tmp_path):
    (tmp_path / "fake_task.py").write_text(_FAKE_TASK)
    return dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")


def test_launcher_stops_all_when_a_task_fails(tmp_path):
    env = _fake_module(tmp_path)
    start = time.monotonic()
    code, out = run_bounded(launcher(3, 0, ["7", "600"], 60, module="fake_task"), 90, env=env)
    assert code == 7, out
    assert time.monotonic() - start < 30
    assert "[worker:1] hello from worker 1" in out
    assert "worker:1 failed with exit code 7; stopping the cluster." in out


def test_launcher_timeout_kills_everything(tmp_path):
    env = _fake_module(tmp_path)
    code, out = run_bounded(launcher(2, 0, ["0", "600"], 3, module="fake_task"), 60, env=env)
    assert code == local_cluster.EXIT_TIMEOUT, out
    assert "timeout after 3 s" in out


def test_launcher_returns_chief_code_when_all_succeed(tmp_path):
    env = _fake_module(tmp_path)
    code, out = run_bounded(launcher(2, 0, ["0", "0"], 60, module="fake_task"), 60, env=env)
    assert code == 0 and "all tasks done." in out, out


# ---- Real clusters on census_tiny ----

def _exports(model_dir):
    export_dir = os.path.join(model_dir, "export")
    return [d for d in os.listdir(export_dir) if d.isdigit()] if os.path.isdir(export_dir) else []


def test_multi_worker_mirrored_two_workers_train_and_export_once(tmp_path):
    """Two workers train, the chief alone writes model_dir and exports once, and a finished run
    started again resumes at its last step on every worker. Issue 19.4: summaries every 50
    steps and logs every 100 (census_mlp's settings then) crashed within 100 steps, because
    only the chief fetched the loss at the summary steps; every worker now acts at the same
    steps, and only the chief writes."""
    model_dir = tmp_path / "model"
    args = train_args(model_dir, train_config__num_steps=120, train_config__num_epochs=100,
                      train_config__log_step_count_steps=100, train_config__save_summary_steps=50,
                      train_config__save_checkpoints_steps=60,
                      train_config__distribution__strategy="MULTI_WORKER_MIRRORED")
    code, out = run_bounded(launcher(2, 0, args, 400), 430, tmp=tmp_path)
    assert code == 0, out[-4000:]
    assert "[worker:1]" in out and "Training done at step 120" in out
    result = json.load(open(model_dir / "eval_result.json"))
    assert result["global_step"] == 120 and result["num_examples"] == 200
    assert 0.0 < result["income/auc"] <= 1.0
    for worker in (0, 1):
        assert re.search(rf"\[worker:{worker}\] .*step 100/120 \(83%\): loss", out), out[-4000:]
    assert (model_dir / "ckpt-60.index").exists() and (model_dir / "ckpt-120.index").exists()
    assert _summary_steps(model_dir / "train", "loss") == [50, 100]
    assert len(_exports(model_dir)) == 1
    # Only the chief wrote model_dir; worker 1 cleaned its temporary directory.
    assert out.count("Exported the model to") == 1
    code, out = run_bounded(launcher(2, 0, args, 170), 200, tmp=tmp_path)
    assert code == 0, out[-4000:]
    assert out.count(f"Resuming from {model_dir}/ckpt-120 at step 120") == 2
    assert json.load(open(model_dir / "eval_result.json"))["global_step"] == 120


def _summary_steps(directory, tag):
    import tensorflow as tf
    steps = []
    for name in sorted(os.listdir(directory)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


@pytest.mark.slow
def test_parameter_server_two_workers_two_ps_train_and_export(tmp_path):
    """Tables split over two ps tasks; row-wise Adagrad's per-row slots are split alike and the
    checkpoint holds them; the chief evaluates and exports once."""
    import tensorflow as tf
    model_dir = tmp_path / "model"
    # fit runs in chunks of min(save_checkpoints_steps, log_step_count_steps) = 3 steps.
    args = train_args(model_dir, train_config__num_steps=6, train_config__save_checkpoints_steps=3,
                      train_config__log_step_count_steps=3,
                      train_config__distribution__strategy="PARAMETER_SERVER",
                      train_config__distribution__min_shard_bytes=1024,
                      train_config__embedding_optimizer__rowwise_adagrad__learning_rate=0.05)
    code, out = run_bounded(launcher(2, 2, args, 200), 240)
    assert code == 0, out[-4000:]
    result = json.load(open(model_dir / "eval_result.json"))
    assert result["global_step"] == 6
    assert len(_exports(model_dir)) == 1
    assert (model_dir / "ckpt-3.index").exists() and (model_dir / "ckpt-6.index").exists()
    names = tf.train.list_variables(str(model_dir / "ckpt-6"))
    slots = [(n, s) for n, s in names if n.startswith("optimizer/embedding/") and s == [1000]]
    assert slots, names  # one accumulator per row of each 1000-row table


def _wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_run_killed_midway_resumes_from_latest_checkpoint(tmp_path):
    model_dir = tmp_path / "model"
    args = [sys.executable, "-m", "easyrank.train"] + train_args(
        model_dir, train_config__num_steps=400, train_config__save_checkpoints_steps=5,
        train_config__num_epochs=100, export_config__exporter="NONE")
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert _wait_for(lambda: (model_dir / "ckpt-10.index").exists(), 180)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    # The checkpoint a restart resumes from: the kill may land after a save's files and
    # before the save updates model_dir/checkpoint, which then still names the one before.
    import tensorflow as tf
    killed_at = int(tf.train.latest_checkpoint(str(model_dir)).rsplit("-", 1)[1])
    assert 5 <= killed_at < 400
    code, out = run_bounded(args[:-1] + [edits(train_config__num_steps=killed_at + 5,
                                               train_config__save_checkpoints_steps=5,
                                               train_config__num_epochs=100, export_config__exporter="NONE")], 240)
    assert code == 0, out[-3000:]
    assert f"Resuming from {model_dir}/ckpt-{killed_at} at step {killed_at}" in out
    assert json.load(open(model_dir / "eval_result.json"))["global_step"] == killed_at + 5


@pytest.mark.slow
def test_killed_worker_makes_the_other_fail_in_bounded_time(tmp_path):
    """No launcher: worker 0 itself must notice that worker 1 is gone, and exit with an error."""
    model_dir = tmp_path / "model"
    args = [sys.executable, "-m", "easyrank.train"] + train_args(
        model_dir, train_config__num_steps=100000, train_config__num_epochs=10000,
        train_config__save_checkpoints_steps=5, export_config__exporter="NONE",
        train_config__distribution__strategy="MULTI_WORKER_MIRRORED")  # heartbeats, no timeout
    cluster = local_cluster.cluster_spec(2, 0)
    logs = [open(tmp_path / f"worker{i}.log", "w+") for i in range(2)]
    envs = [dict(os.environ, TMPDIR=str(tmp_path), TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": i}})) for i in range(2)]
    workers = [subprocess.Popen(args, cwd=ROOT, stdout=logs[i], stderr=subprocess.STDOUT,
                                start_new_session=True, env=envs[i]) for i in range(2)]
    try:
        assert _wait_for(lambda: (model_dir / "ckpt-10.index").exists(), 240)
        os.killpg(workers[1].pid, signal.SIGKILL)
        start = time.monotonic()
        code = workers[0].wait(timeout=120)
        elapsed = time.monotonic() - start
        logs[0].seek(0)
        out = logs[0].read()
        assert code == 4, out[-3000:]  # console.EXIT_CLUSTER
        assert elapsed < 120
        assert "Cluster error:" in out and "Restart the whole job" in out, out[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        for log in logs:
            log.close()


# ---- Mixed precision and XLA: training only, float32 serving graph ----

def test_mixed_float16_and_jit_train_and_export_a_float32_graph(tmp_path, monkeypatch):
    import tensorflow as tf
    import tf_keras

    from easyrank.config import load_config
    from easyrank.training import loop, model_state
    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = load_config(CONFIG, edits(train_config__num_steps=3,
                                       train_config__mixed_precision="mixed_float16",
                                       train_config__jit_compile=True))
    model, _ = model_state.create_model(config, tf.distribute.get_strategy())
    assert isinstance(model.optimizer, tf_keras.mixed_precision.LossScaleOptimizer)
    assert model.backbone.compute_dtype == "float16"
    assert model.feature_groups.compute_dtype == "float32"
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored
    results = loop.train_and_evaluate(config, str(tmp_path))
    assert results["global_step"] == 3 and 0.0 < results["income/logloss"] < 5.0
    [version] = _exports(str(tmp_path))
    graph = (tmp_path / "export" / version / "saved_model.pb").read_bytes()
    assert b"XlaMustCompile" not in graph and b"_jit_compiled" not in graph
    loaded = tf.saved_model.load(str(tmp_path / "export" / version))
    outputs = loaded.signatures["raw_features"](
        **{name: tf.constant([default], dtype) for name, dtype, default in model.input_fields})
    assert outputs["income/probs"].dtype == tf.float32


@pytest.mark.parametrize("edit, message", [
    ({"train_config.mixed_precision": "float16"}, "train_config.mixed_precision: must be one of"),
    ({"train_config.distribution.devices": ["/gpu:0"]},
     "train_config.distribution.devices: devices only applies to strategy MIRRORED."),
    ({"train_config.mixed_precision": "mixed_float16",
      "train_config.distribution.strategy": "PARAMETER_SERVER"},
     "train_config.mixed_precision: mixed_float16 cannot train under strategy PARAMETER_SERVER"),
    ({"train_config.mixed_precision": "mixed_bfloat16",
      "train_config.distribution.strategy": "PARAMETER_SERVER"},
     "train_config.mixed_precision: mixed_bfloat16 cannot train under strategy PARAMETER_SERVER"),
])
def test_distribution_config_errors(edit, message):
    from easyrank.config import load_config
    with pytest.raises(ConfigError) as error:
        load_config(CONFIG, edit)
    assert message in str(error.value)
