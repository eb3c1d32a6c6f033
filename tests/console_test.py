"""The first run's console (issue 12.6): easyrank's own lines only; --tf_log brings TensorFlow's back."""

import json
import os
import re
import subprocess
import sys

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import pytest
import tensorflow as tf

from easyrank.console import logs
from easyrank.serving import deployment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "samples", "configs", "census_mlp.config")
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")

# What TensorFlow, tf_keras and absl printed on the README's first command before issue 12.6.
NOISE = [
    r"absl::InitializeLog", r"oneDNN", r"cuda|cuInit", r"cpu_feature_guard|rebuild TensorFlow",
    r"unsupported characters|contains input name", r"Sharding callback", r"untraced functions",
    r"non-serializable", r"on_train_batch_end.*slow", r"fingerprint",
    r"^[IWEF]\d{4} ",  # any absl/glog-formatted line
]


def run_cli(model_dir, *extra, exporter="FINAL"):
    edits = {"train_input_path": [TINY], "eval_input_path": [TINY], "data_config.batch_size": 32,
             "train_config.log_step_count_steps": 5, "train_config.save_summary_steps": 3,
             "train_config.save_checkpoints_steps": 10, "export_config.exporter": exporter}
    return subprocess.run(
        [sys.executable, "-m", "easyrank.train", "--pipeline_config_path", CONFIG,
         "--model_dir", str(model_dir), "--edit_config_json", json.dumps(edits), *extra],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})


def test_first_run_prints_easyrank_lines_only(tmp_path):
    out = run_cli(tmp_path / "m")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = (out.stdout + out.stderr).splitlines()
    noisy = [line for line in lines if any(re.search(p, line, re.I) for p in NOISE)]
    assert not noisy, "\n".join(noisy)
    assert len(lines) <= 25, "\n".join(lines)
    text = "\n".join(lines)
    # 200 rows x 3 epochs / 32 = 19 steps: the total is known, logged every 5 steps.
    assert "Training to step 19, batch size 32" in text
    assert re.search(r"step 5/19 \(26%\): loss [\d.]+, [\d,]+ examples/s, learning rate 0.001, "
                     r"\d+:\d\d left", text), text
    assert "step 15/19 (78%)" in text and "step 19/19" not in text
    assert re.search(r"Evaluation at step 19: .*income/auc = [\d.]+", text), text
    export_dir = tmp_path / "m" / "export"
    (version,) = [d for d in os.listdir(export_dir) if d.isdigit()]
    assert f"Exported the model to {export_dir}/{version}" in text
    for command in deployment.serve_commands("easyrank", str(export_dir)):
        assert command in text
    # tensorflow-serving-api is a core dependency: the default export has warmup records.
    assert (export_dir / version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    # Checkpoints at multiples of save_checkpoints_steps and the end; summaries every 3 steps.
    assert tf.train.get_checkpoint_state(str(tmp_path / "m")).all_model_checkpoint_paths[-2:] == [
        str(tmp_path / "m" / "ckpt-10"), str(tmp_path / "m" / "ckpt-19")]
    assert summary_steps(tmp_path / "m" / "train", "loss") == [3, 6, 9, 12, 15, 18]


def test_tf_log_shows_tensorflow_messages_again(tmp_path):
    out = run_cli(tmp_path / "m", "--tf_log", exporter="NONE")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = (out.stdout + out.stderr).splitlines()
    assert any(re.match(r"[IWEF]\d{4} ", line) for line in lines), "\n".join(lines)
    assert any("Evaluation at step 19" in line for line in lines)


def test_held_stderr_is_replayed_when_the_import_fails(capfd):
    with pytest.raises(ImportError), logs._held_stderr():
        os.write(2, b"why it failed\n")
        raise ImportError("boom")
    assert "why it failed" in capfd.readouterr().err
    with logs._held_stderr():
        os.write(2, b"start-up noise\n")
    assert "start-up noise" not in capfd.readouterr().err


def summary_steps(directory, tag):
    steps = []
    for name in sorted(os.listdir(directory)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(directory, name)):
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return sorted(steps)
