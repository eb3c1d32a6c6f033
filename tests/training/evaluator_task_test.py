"""The evaluator task (issue 26): a cluster with an evaluator, its restarts and its bad input.

Every process a test starts runs in its own process group, is time-bounded and killed at the end.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "samples/configs/census_mlp.config")
TINY = os.path.join(ROOT, "tests/data/census_tiny.csv")


def edits(**extra):
    value = {"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 32,
             "model_config.feature_groups[0].feature_names": ["age", "education", "sex",
                                                             "marital_stat", "weeks_worked"],
             "model_config.backbone.blocks[0].mlp.hidden_units": [16],
             "export_config.exporter": "BEST", "export_config.metric": "income/auc"}
    value.update({k.replace("__", "."): v for k, v in extra.items()})
    return json.dumps(value)


def args(model_dir, **extra):
    return ["--pipeline_config_path", CONFIG, "--model_dir", str(model_dir),
            "--edit_config_json", edits(**extra)]


def run_bounded(command, timeout, env=None):
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
        return process.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate(timeout=10)
        return None, out.decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def evaluator_env(cluster=None, index=0):
    cluster = cluster or {"worker": ["127.0.0.1:1"], "evaluator": ["127.0.0.1:2"]}
    return dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "evaluator", "index": index}}))


def train(model_dir, timeout=300, **extra):
    code, out = run_bounded([sys.executable, "-m", "easyrank.train"] + args(model_dir, **extra),
                            timeout, env={k: v for k, v in os.environ.items() if k != "TF_CONFIG"})
    assert code == 0, out[-3000:]


def evaluate_task(model_dir, timeout=240, env=None, **extra):
    return run_bounded([sys.executable, "-m", "easyrank.train"] + args(model_dir, **extra),
                       timeout, env=env or evaluator_env())


def _summary_steps(directory, tag):
    import tensorflow as tf
    steps = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("events"):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
                steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)


def test_restarted_evaluator_goes_on_with_the_checkpoint_it_has_not_evaluated(tmp_path):
    model_dir = tmp_path / "model"
    train(model_dir, train_config__num_steps=10, train_config__save_checkpoints_steps=5,
          train_config__num_epochs=10)
    (model_dir / "TRAINING_DONE.json").write_text('{"global_step": 10}')
    code, out = evaluate_task(model_dir)
    assert code == 0, out[-3000:]
    assert "Evaluation of step 10" in out and "Evaluation of step 5 " not in out
    assert json.loads((model_dir / "eval_result.json").read_text())["global_step"] == 10
    # More training, then the evaluator starts again: it evaluates step 20 only.
    train(model_dir, train_config__num_steps=20, train_config__save_checkpoints_steps=5,
          train_config__num_epochs=10)
    (model_dir / "TRAINING_DONE.json").write_text('{"global_step": 20}')
    code, out = evaluate_task(model_dir)
    assert code == 0, out[-3000:]
    assert "Evaluation of step 20" in out and "Evaluation of step 10" not in out
    assert "Skipping 1 older checkpoint(s)" in out  # ckpt-15
    state = json.loads((model_dir / "eval" / "evaluator_state.json").read_text())
    assert state["last_step"] == 20 and state["export_best"] > 0.5
    result = json.loads((model_dir / "eval_result.json").read_text())
    assert result["global_step"] == 20 and 0.5 < result["income/auc"] <= 1.0
    # Ended, and started again: nothing left to evaluate, it ends at once.
    code, out = evaluate_task(model_dir)
    assert code == 0 and "already evaluated" in out, out[-3000:]


def _paragraph(out):
    return "Traceback" not in out and "Config error" in out


def test_evaluator_bad_input_is_one_paragraph_and_exit_2(tmp_path):
    model_dir = tmp_path / "model"
    # Every case fails before the evaluator reads a checkpoint or exports: no export needed.
    train(model_dir, train_config__num_steps=4, train_config__save_checkpoints_steps=4,
          export_config__exporter="NONE")
    # No eval_input_path.
    code, out = evaluate_task(model_dir, eval_input_path=[])
    assert code == 2 and _paragraph(out) and "eval_input_path" in out, out[-3000:]
    # Two evaluators in TF_CONFIG.
    two = {"worker": ["127.0.0.1:1"], "evaluator": ["127.0.0.1:2", "127.0.0.1:3"]}
    code, out = evaluate_task(model_dir, env=evaluator_env(two, 1))
    assert code == 2 and _paragraph(out) and "at most one" in out, out[-3000:]
    # A second evaluator on the same model_dir while one runs (its lock, held by this process).
    lock = {"host": socket.gethostname(), "pid": os.getpid(), "process_start": None,
            "started": time.time(), "heartbeat": time.time(), "command": "pytest", "token": "x"}
    (model_dir / "evaluator.lock").write_text(json.dumps(lock))
    code, out = evaluate_task(model_dir)
    assert code == 2 and _paragraph(out) and "already has an evaluator" in out, out[-3000:]
    (model_dir / "evaluator.lock").unlink()
    # A model other than the one the workers train.
    code, out = evaluate_task(model_dir, **{"model_config.backbone.blocks[0].mlp.hidden_units": [8]})
    assert code == 2 and _paragraph(out) and "differs from the one the workers train" in out, out[-3000:]
    # A model_dir the evaluator cannot read (a file).
    (tmp_path / "file").write_text("x")
    code, out = evaluate_task(tmp_path / "file")
    assert code == 2 and _paragraph(out) and "cannot read" in out, out[-3000:]


def _launch(model_dir, num_workers, num_ps, strategy, timeout):
    command = [sys.executable, "-m", "easyrank.launch", "--num_workers", str(num_workers),
               "--num_ps", str(num_ps), "--evaluator", "--timeout_seconds", str(timeout), "--"]
    # Training runs until early stopping ends it: 2 evaluations after the first without an
    # improvement by more than 1 (impossible for an AUC): it fires at the third evaluation.
    command += args(model_dir, train_config__num_steps=100000, train_config__num_epochs=100000,
                    train_config__save_checkpoints_steps=20, train_config__log_step_count_steps=20,
                    train_config__keep_checkpoint_max=100,
                    train_config__distribution__strategy=strategy,
                    train_config__early_stopping__metric="income/auc",
                    train_config__early_stopping__patience=2,
                    train_config__early_stopping__min_delta=1.0)
    return run_bounded(command, timeout + 60, env=dict(os.environ, TMPDIR=str(model_dir.parent)))


@pytest.mark.slow
@pytest.mark.parametrize("strategy,num_ps", [("MULTI_WORKER_MIRRORED", 0), ("PARAMETER_SERVER", 1)])
def test_cluster_with_an_evaluator_evaluates_exports_best_and_stops_early(tmp_path, strategy, num_ps):
    model_dir = tmp_path / "model"
    code, out = _launch(model_dir, 2, num_ps, strategy, 420)
    assert code == 0, out[-6000:]
    evaluations = [(int(step), float(auc)) for step, auc in re.findall(
        r"\[evaluator:0\] .*Evaluation of step (\d+) .*income/auc = ([0-9.]+)", out)]
    assert len(evaluations) >= 4, out[-6000:]  # three during training and the final one
    stop = json.loads((model_dir / "STOP_TRAINING.json").read_text())
    done = json.loads((model_dir / "TRAINING_DONE.json").read_text())
    steps = [step for step, _ in evaluations]
    assert stop["global_step"] == steps[2] < done["global_step"] == steps[-1] < 100000
    assert "did not improve by more than 1" in stop["reason"]
    # The workers stopped: every training task says so, at the same step under MWMS.
    stopped = re.findall(r"\[(worker:\d|chief:0)\] .*Early stopping at step (\d+), asked by the evaluator", out)
    assert stopped and all(s[1] == stopped[0][1] for s in stopped), out[-6000:]
    if strategy == "MULTI_WORKER_MIRRORED":
        assert {s[0] for s in stopped} == {"worker:0", "worker:1"}
    result = json.loads((model_dir / "eval_result.json").read_text())
    assert result["global_step"] == done["global_step"]
    assert result["early_stopping/stopped_at_step"] == steps[2]
    assert "did not improve" in result["early_stopping/reason"]
    # BEST: the evaluator exported exactly at the evaluations that set a new best AUC.
    best, want = None, []
    for step, auc in evaluations:
        if best is None or auc > best:
            best = auc
            want.append(step)
    exported = [int(s) for s in re.findall(r"\[evaluator:0\] .*Exported step (\d+) to", out)]
    assert exported == want
    versions = [d for d in os.listdir(model_dir / "export") if d.isdigit()]
    assert len(versions) == min(len(want), 3)  # export_config.keep: 3
    assert _summary_steps(model_dir / "eval", "income/auc") == steps
