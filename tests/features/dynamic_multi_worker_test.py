"""Dynamic tables under MULTI_WORKER_MIRRORED (issue 27): two workers on 127.0.0.1 keep one
mapping. Each step's ids of every replica are all-gathered (as padded byte matrices) and every
worker applies the same admission and eviction to its copy, re-initialising rows from a
stateless seed of the step; so the workers' mappings, tables and slots stay identical, through
a checkpoint and a resume, and the chief exports the lookup-only model."""

import glob
import json
import os
import signal
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import tensorflow as tf

from easyrank.training import warm_start_dynamic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples/configs/movielens_din_dynamic.config")
TINY = os.path.join(ROOT, "tests/data/movielens_tiny.csv")

# Runs easyrank.train but keeps a non-chief worker's private checkpoints for the test to read.
_KEEP_WORKER_CHECKPOINTS = """
import runpy
from easyrank.training import strategies
strategies.cleanup_write_dir = lambda path, model_dir: print("WORKER_DIR", path, flush=True)
runpy.run_module("easyrank.train", run_name="__main__")
"""


def _train(tmp_path, model_dir, steps):
    edits = {"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 32,
             "train_config.num_steps": steps, "train_config.num_epochs": 50,
             "train_config.save_checkpoints_steps": 6,
             "train_config.log_step_count_steps": 6, "train_config.save_summary_steps": 6,
             "train_config.distribution.strategy": "MULTI_WORKER_MIRRORED",
             # movie ids fill their 30 rows and evict; users are admitted at once.
             "feature_configs[4].id_feature.dynamic.capacity": 30,
             "feature_configs[11].sequence_feature.dynamic.capacity": 30}
    (tmp_path / "keep_worker_checkpoints.py").write_text(_KEEP_WORKER_CHECKPOINTS)
    command = [sys.executable, "-m", "easyrank.launch", "--num_workers", "2", "--timeout_seconds",
               "240", "--module", "keep_worker_checkpoints", "--", "--pipeline_config_path", CONFIG,
               "--model_dir", str(model_dir), "--edit_config_json", json.dumps(edits)]
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}", TMPDIR=str(tmp_path))
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    out = out.decode("utf-8", "replace")
    assert process.returncode == 0, out[-4000:]
    worker_dir = out.split("[worker:1] WORKER_DIR ", 1)[1].split()[0]
    return os.path.join(str(model_dir), f"ckpt-{steps}"), os.path.join(worker_dir, f"ckpt-{steps}")


def _state(path):
    """{checkpoint key: value} of the dynamic tables (tables, state, slots) and, under
    "mapping:<table>", each table's id -> row mapping found through the object graph."""
    reader = tf.train.load_checkpoint(path)
    keys = [k for k in reader.get_variable_to_shape_map()
            if "movie_id" in k or "user_id" in k or "dynamic" in k or "_lookup_tables" in k]
    state = {k: reader.get_tensor(k) for k in keys if not k.endswith(("table-keys", "table-values"))}
    for table_key, prefix in warm_start_dynamic.old_states(reader).items():
        table = next(t for t in ("movie_id", "user_id") if t in table_key)
        ids = reader.get_tensor(prefix + "/mapping/.ATTRIBUTES/table-keys")
        rows = reader.get_tensor(prefix + "/mapping/.ATTRIBUTES/table-values")
        state[f"mapping:{table}"] = dict(zip([k.decode() for k in ids], rows.tolist()))
        state[f"evicted:{table}"] = reader.get_tensor(prefix + "/evicted/.ATTRIBUTES/VARIABLE_VALUE")
    return state


def _mapping(state, table):
    return state[f"mapping:{table}"]


def _assert_same(chief, worker):
    assert chief.keys() == worker.keys()
    for key in chief:
        if key.startswith("mapping:"):
            assert chief[key] == worker[key], key  # a hash table's export order is its own
        elif chief[key].dtype.kind in "fc":
            np.testing.assert_allclose(chief[key], worker[key], rtol=1e-5, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(chief[key], worker[key], err_msg=key)
    assert {"mapping:movie_id", "mapping:user_id"} <= chief.keys()


def test_two_workers_hold_one_mapping_through_a_resume(tmp_path):
    model_dir = tmp_path / "model"
    chief_path, worker_path = _train(tmp_path, model_dir, 12)
    chief, worker = _state(chief_path), _state(worker_path)
    _assert_same(chief, worker)
    movies, users = _mapping(chief, "movie_id"), _mapping(chief, "user_id")
    assert len(movies) == 30 and len(users) > 20
    assert sorted(movies.values()) == list(range(1, 31))  # one row per id, every row used
    clocks = [v for k, v in chief.items() if "clock" in k]
    assert clocks and all(int(c) == 12 for c in clocks)  # one update per step
    assert int(chief["evicted:movie_id"]) > 0  # movies evicted and rows re-initialised
    result = json.load(open(model_dir / "eval_result.json"))
    assert result["global_step"] == 12 and 0.0 < result["like/auc"] <= 1.0
    assert glob.glob(str(model_dir / "export" / "[0-9]*" / "saved_model.pb"))
    # Resumed: both workers restore the chief's checkpoint, keep every user's row, go on alike.
    chief_path, worker_path = _train(tmp_path, model_dir, 18)
    chief, worker = _state(chief_path), _state(worker_path)
    _assert_same(chief, worker)
    resumed = _mapping(chief, "user_id")
    assert {k: resumed[k] for k in users} == users
    assert all(int(v) == 18 for k, v in chief.items() if "clock" in k)
