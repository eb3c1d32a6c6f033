"""Every block family, feature kind, embedding optimizer and loss family under every strategy
(issue 27): a few steps of training, evaluation and an export each.

tests/configs/strategy_matrix.config holds every block family (interaction, sequence, multi-task,
custom), every feature kind (dynamic tables included) and every loss family in one model; each
strategy trains and exports it, then tests/configs/strategy_matrix_optimizers.config (a small
model with a dynamic table and a dynamic table shared by an id and a sequence feature, whose
reused rows reset the optimizer's slots, and hashed tables) once per other embedding optimizer. All runs of a strategy
share one process (one launch of a cluster): DEFAULT and MIRRORED (2 logical CPUs) together, MULTI_WORKER_MIRRORED
with 2 workers, PARAMETER_SERVER with 2 workers and 2 ps. Combinations that cannot work are
config errors before training (docs/distributed.md), checked at the end.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import numpy as np
import pytest

from easyrank.config import load_config
from easyrank.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "tests/configs/strategy_matrix.config")
OPTIMIZER_CONFIG = os.path.join(ROOT, "tests/configs/strategy_matrix_optimizers.config")
MOVIELENS = os.path.join(ROOT, "tests/data/movielens_tiny.csv")
STEPS = 3
OPTIMIZERS = {
    "rowwise_adam": {},
    "lazy_adam": {"lazy_adam.learning_rate": 0.01},
    "adagrad": {"adagrad.learning_rate": 0.05},
    "rowwise_adagrad": {"rowwise_adagrad.learning_rate": 0.05},
    "ftrl": {"ftrl.learning_rate": 0.05},
    "sgd": {"sgd.learning_rate": 0.5},
    "sgd_momentum": {"sgd.learning_rate": 0.5, "sgd.momentum": 0.9},
    "dense": {"use_dense_optimizer": True},
}
TASK_METRICS = ["ctr/auc", "rating/mse", "focal/auc", "klass/accuracy", "pairwise/gauc",
                "listwise/gauc", "ctr2/auc"]

# Runs every variant of one strategy in this process (every task of a cluster runs it): the
# strategy is built once (a process holds one collective cluster) and reused.
_RUNNER = textwrap.dedent("""
    import json, os, sys
    import easyrank
    import tensorflow as tf
    spec = json.load(open(os.environ["MATRIX_SPEC"]))
    if not os.environ.get("TF_CONFIG"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from easyrank.config import load_config
    from easyrank.config.modules import import_modules
    from easyrank.training import loop, strategies
    built, build = {}, strategies.build_strategy
    def build_once(train):
        if train.distribution.strategy not in built:
            built[train.distribution.strategy] = build(train)
        return built[train.distribution.strategy]
    strategies.build_strategy = build_once
    for variant in spec["variants"]:
        config = load_config(variant["config"], variant["edits"])
        import_modules(config.import_modules)  # the custom block's layer
        loop.train_and_evaluate(config, variant["model_dir"])
        print("MATRIX_DONE", variant["model_dir"], flush=True)
""")


def write_data(path, rows=48, seed=0):
    """Users, items (more than the dynamic table holds), categories, tags, histories, click
    maps, vectors and three labels."""
    rng = np.random.default_rng(seed)
    lines = ["user,item,cat,tags,hist,hist_cat,clicks,vec,price,click,rating,klass"]
    for _ in range(rows):
        user, item, cat = f"u{rng.integers(8)}", f"i{rng.integers(30)}", f"c{rng.integers(5)}"
        hist = [f"i{v}" for v in rng.integers(30, size=rng.integers(0, 5))]
        clicks = "|".join(f"c{c}:{rng.integers(1, 9)}" for c in rng.choice(5, 2, replace=False))
        vec = ";".join(f"{v:.2f}" for v in rng.normal(size=4))
        lines.append(",".join([
            user, item, cat, "|".join(f"t{t}" for t in rng.integers(6, size=2)), ";".join(hist),
            ";".join(f"c{rng.integers(5)}" for _ in hist), clicks, vec, f"{rng.uniform(0, 8):.2f}",
            str(int(rng.integers(2))), str(int(rng.integers(1, 6))), str(int(rng.integers(3)))]))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def variants(tmp_path, data, strategy):
    """The matrix model with the default embedding optimizer, then the optimizer model (dynamic
    tables whose reused rows reset the optimizer's slots) with each other embedding optimizer."""
    extra = {"train_config.distribution.strategy": strategy, "train_config.num_steps": STEPS,
             "train_config.save_checkpoints_steps": STEPS, "train_config.log_step_count_steps": STEPS,
             "train_config.save_summary_steps": STEPS}
    if strategy == "PARAMETER_SERVER":
        extra["train_config.distribution.min_shard_bytes"] = 256  # tables split over both ps
    runs = [{"config": CONFIG, "model_dir": str(tmp_path / strategy.lower() / "matrix"),
             "edits": dict(extra, train_input_path=[data], eval_input_path=[data])}]
    small = dict(extra, **{"train_input_path": [MOVIELENS], "eval_input_path": [MOVIELENS]})
    for name, settings in list(OPTIMIZERS.items())[1:]:
        runs.append({"config": OPTIMIZER_CONFIG, "model_dir": str(tmp_path / strategy.lower() / name),
                     "optimizer": name,
                     "edits": dict(small, **{f"train_config.embedding_optimizer.{k}": v
                                             for k, v in settings.items()})})
    return runs


def run(tmp_path, specs, workers=0, ps=0, timeout=1800):
    """Runs the variants in one process (or one launch of a cluster); returns its output."""
    spec = tmp_path / f"spec_{workers}_{ps}.json"
    spec.write_text(json.dumps({"variants": specs}))
    (tmp_path / "matrix_runner.py").write_text(_RUNNER)
    command = [sys.executable, str(tmp_path / "matrix_runner.py")]
    if workers:
        command = [sys.executable, "-m", "easyrank.launch", "--num_workers", str(workers),
                   "--num_ps", str(ps), "--timeout_seconds", str(timeout - 30),
                   "--module", "matrix_runner", "--"]
    env = dict(os.environ, MATRIX_SPEC=str(spec), TMPDIR=str(tmp_path),
               PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    out = out.decode("utf-8", "replace")
    assert process.returncode == 0, out[-5000:]
    return out


def check_slots(spec):
    """The checkpoint holds the embedding optimizer's slots for the tables (embedding_dim 4, the
    only weights of width 4; split over the ps tasks under PARAMETER_SERVER), or one value per
    row for a row-wise optimizer; the dense optimizer (use_dense_optimizer) keeps them among its
    own; plain sgd has none."""
    import tensorflow as tf
    variables = tf.train.list_variables(tf.train.latest_checkpoint(spec["model_dir"]))
    slots = [n for n, shape in variables if n.startswith("optimizer/") and shape[-1:] == [4]]
    if spec["optimizer"].startswith("rowwise_"):
        per_row = [n for n, shape in variables if n.startswith("optimizer/embedding/") and len(shape) == 1
                   and shape[0] > 1]
        assert per_row and not slots, (spec, per_row, slots)
    elif spec["optimizer"] == "dense":
        assert slots and not any(n.startswith("optimizer/embedding/") for n in slots), (spec, slots)
    elif spec["optimizer"] == "sgd":
        assert not slots, (spec, slots)
    else:
        assert slots and all(n.startswith("optimizer/embedding/") for n in slots), (spec, slots)


def check_runs(specs):
    for spec in specs:
        if "optimizer" in spec:
            check_slots(spec)
        result = json.load(open(os.path.join(spec["model_dir"], "eval_result.json")))
        assert result["global_step"] == STEPS, (spec, result)
        keys = TASK_METRICS if spec["config"] == CONFIG else ["like/auc"]
        for key in keys:
            assert np.isfinite(result[key]), (spec["model_dir"], key, result)
        export = os.path.join(spec["model_dir"], "export")
        versions = [d for d in os.listdir(export) if d.isdigit()]
        assert len(versions) == 1 and os.path.exists(
            os.path.join(export, versions[0], "saved_model.pb")), spec


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_data(tmp_path_factory.mktemp("matrix_data") / "data.csv")


@pytest.mark.slow
def test_every_model_part_under_one_machine_strategies(tmp_path, data):
    specs = variants(tmp_path, data, "DEFAULT") + variants(tmp_path, data, "MIRRORED")
    run(tmp_path, specs)
    check_runs(specs)


@pytest.mark.slow
def test_every_model_part_under_multi_worker_mirrored(tmp_path, data):
    specs = variants(tmp_path, data, "MULTI_WORKER_MIRRORED")
    out = run(tmp_path, specs, workers=2)
    assert out.count("[worker:1] MATRIX_DONE") == len(specs)
    check_runs(specs)


@pytest.mark.slow
def test_every_model_part_under_parameter_server(tmp_path, data):
    specs = variants(tmp_path, data, "PARAMETER_SERVER")
    run(tmp_path, specs, workers=2, ps=2)
    check_runs(specs)


@pytest.mark.parametrize("edits, names", [
    ({"train_config.distribution.strategy": "PARAMETER_SERVER",
      "train_config.mixed_precision": "mixed_float16", "train_config.num_steps": 3},
     ["PARAMETER_SERVER", "train_config.mixed_precision"]),
])
def test_combinations_that_cannot_work_are_config_errors(edits, names):
    with pytest.raises(ConfigError) as error:
        load_config(CONFIG, edits)
    for name in names:
        assert name in str(error.value)
