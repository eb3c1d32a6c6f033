"""The CLIs' contract on bad input: non-zero exit and one readable paragraph naming what and where."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


def run_train(config_path, model_dir, *extra):
    return subprocess.run(
        [sys.executable, "-m", "easyrank.train", "--pipeline_config_path", config_path,
         "--model_dir", str(model_dir), *extra],
        capture_output=True, text=True, timeout=300, cwd=ROOT)


def one_paragraph(stderr):
    """The last line of stderr: the error paragraph (earlier lines are TensorFlow's start-up log)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr[-3000:]
    return lines[-1]


def write_config(tmp_path, old, new, name="x.config"):
    text = open(BASE).read()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new).replace('"tests/data/', f'"{ROOT}/tests/data/'))
    return str(path)


def test_config_typo(tmp_path):
    path = write_config(tmp_path, "hidden_units: [8]", "hiden_units: [8]")
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 2
    assert one_paragraph(out.stderr) == (
        f'Config error: {path}:19: Message type "easyrank.protos.MLP" has no field named "hiden_units". '
        "Check the field name and value against protos/easyrank/protos/.")


def test_config_wrong_type(tmp_path):
    path = write_config(tmp_path, "num_epochs: 1", "num_epochs: 1.5")
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 2
    message = one_paragraph(out.stderr)
    assert message.startswith(f"Config error: {path}:23:") and "num_epochs" in message


def test_config_semantic_error_names_line_and_field(tmp_path):
    path = write_config(tmp_path, 'feature_names: ["age", "education", "sex"]', 'feature_names: ["age", "edu"]')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 2
    assert one_paragraph(out.stderr) == (
        f"Config error: {path}:17: model_config.feature_groups[0].feature_names[1]: unknown feature 'edu'; "
        "known features: age, education, sex.")


def test_missing_data_file(tmp_path):
    path = write_config(tmp_path, 'train_input_path: "tests/data/census_tiny.csv"',
                        'train_input_path: "/nonexistent/train.csv"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3
    assert one_paragraph(out.stderr).startswith(
        "Data error: Input file not found: '/nonexistent/train.csv' matches no file")


@pytest.mark.parametrize("mangle, reason", [
    (lambda cells: cells[:-3], "expected 43 fields, found 40"),
    (lambda cells: ["forty"] + cells[1:], "column age is not a number: forty"),
])
def test_malformed_csv_row(tmp_path, mangle, reason):
    data = tmp_path / "train.csv"
    lines = open(TINY).read().splitlines()
    lines[5] = ",".join(mangle(lines[5].split(",")))
    data.write_text("\n".join(lines) + "\n")
    path = write_config(tmp_path, 'train_input_path: "tests/data/census_tiny.csv"', f'train_input_path: "{data}"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3
    assert one_paragraph(out.stderr) == f"Data error: Malformed CSV row in {data} at line 6: {reason}."


def test_bad_override(tmp_path):
    out = run_train(BASE, tmp_path / "m", "--edit_config_json", '{"train_config.epochs": 2}')
    assert out.returncode == 2
    assert "--edit_config_json: train_config.epochs: unknown field 'epochs'" in one_paragraph(out.stderr)


def test_tiny_run_succeeds_and_nothing_is_lost_on_bad_input(tmp_path):
    path = write_config(tmp_path, "num_epochs: 1", "num_epochs: 2 save_summary_steps: 5")
    model_dir = tmp_path / "m"
    out = run_train(path, model_dir, "--edit_config_json", '{"export_config.exporter": "NONE"}')
    assert out.returncode == 0, out.stderr[-3000:]
    assert (model_dir / "eval_result.json").exists()
    # The train CLI ends without Python's finalization (issue 23): everything it wrote is complete.
    import json
    phases = json.load(open(model_dir / "phases.json"))["seconds"]
    assert list(phases) == ["build", "input", "tracing", "training", "evaluation", "export"]
    import tensorflow as tf
    tags = {kind: {v.tag for f in tf.io.gfile.glob(str(model_dir / kind / "events.*"))
                   for e in tf.compat.v1.train.summary_iterator(f) for v in e.summary.value}
            for kind in ("train", "eval")}
    assert {"loss", "learning_rate"} <= tags["train"] and "income/auc" in tags["eval"], tags
    saved = sorted(os.listdir(model_dir))
    # A second run with a broken override fails before touching model_dir.
    out = run_train(path, model_dir, "--edit_config_json", '{"data_config.batch_size": -1}')
    assert out.returncode == 2
    assert sorted(os.listdir(model_dir)) == saved
    shutil.rmtree(model_dir)
