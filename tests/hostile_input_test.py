"""Hostile input, one class a test: exit code 2 (config) or 3 (data), one paragraph, nothing silently wrong.

docs/errors.md lists each class with what it gets. Config mistakes found by
validation alone are in tests/configs/bad/ (tests/config_test.py).
"""

import gzip
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from cli_test import BASE as BASE_CONFIG
from cli_test import ROOT, TINY, one_paragraph, run_train, write_config

TRAIN = 'train_input_path: "tests/data/census_tiny.csv"'
EVAL = 'eval_input_path: "tests/data/census_tiny.csv"'


def tiny_with(tmp_path, name, row=5, cells=None, lines=None):
    """census_tiny.csv with data row `row` (1-based, after the header) changed; returns its path."""
    text = open(TINY).read().splitlines()
    header = text[0].split(",")
    if cells:
        values = text[row].split(",")
        for column, value in cells.items():
            values[header.index(column)] = value
        text[row] = ",".join(values)
    if lines is not None:
        text = lines(text)
    path = tmp_path / name
    path.write_text("\n".join(text) + "\n")
    return path


def versions(export_dir):
    return sorted(d for d in os.listdir(export_dir) if d.isdigit()) if os.path.isdir(export_dir) else []


@pytest.mark.parametrize("cells, reason", [
    ({"age": "nan"}, "column age is not a finite 32-bit float: nan"),
    ({"age": "1e39"}, "column age is not a finite 32-bit float: inf"),  # overflows float32
    ({"income_gt_50k": "inf"}, "column income_gt_50k is not a finite 32-bit float: inf"),
    ({"income_gt_50k": "2"}, "label income_gt_50k is not 0 or 1 (binary cross-entropy): 2"),
])
def test_non_finite_values_and_bad_binary_labels_are_malformed_rows(tmp_path, cells, reason):
    data = tiny_with(tmp_path, "train.csv", row=5, cells=cells)
    path = write_config(tmp_path, TRAIN, f'train_input_path: "{data}"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3, out.stderr[-2000:]
    assert one_paragraph(out.stderr) == f"Data error: Malformed CSV row in {data} at line 6: {reason}."
    assert versions(tmp_path / "m" / "export") == []


@pytest.mark.parametrize("column, value, reason", [
    ("age", "nan", "column age is not a finite 32-bit float: nan"),
    ("income_gt_50k", "2", "label income_gt_50k is not 0 or 1 (binary cross-entropy): 2"),
])
def test_parquet_non_finite_values_and_bad_binary_labels_are_malformed_rows(tmp_path, column, value, reason):
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq
    table = pa_csv.read_csv(tiny_with(tmp_path, "tiny.csv", row=5, cells={column: value}),
                            convert_options=pa_csv.ConvertOptions(null_values=[]))  # "nan" is a number
    data = tmp_path / "train.parquet"
    pq.write_table(table, data, row_group_size=16)
    path = write_config(tmp_path, "batch_size: 32", "batch_size: 32 format: PARQUET")
    text = open(path).read().replace(f"{ROOT}/tests/data/census_tiny.csv", str(data))
    open(path, "w").write(text)
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3, out.stderr[-2000:]
    assert one_paragraph(out.stderr) == f"Data error: Malformed Parquet row in {data}:5: {reason}."
    assert versions(tmp_path / "m" / "export") == []


def test_non_finite_config_number_through_edit_config_json(tmp_path):
    out = run_train(os.path.join(ROOT, "tests", "configs", "base.config"), tmp_path / "m", "--edit_config_json",
                    '{"train_config.optimizer": {"adam": {"learning_rate": NaN}}}')
    assert out.returncode == 2
    assert one_paragraph(out.stderr) == ("Config error: --edit_config_json: NaN is not a finite number; "
                                         "config numbers must be finite.")


def test_non_finite_loss_stops_keeps_last_good_checkpoint_and_exports_nothing(tmp_path):
    path = write_config(tmp_path, "train_config { num_epochs: 1 }", (
        "train_config { num_epochs: 1 save_checkpoints_steps: 1 "
        "optimizer { sgd { learning_rate: 1e30 } } }"))
    model_dir = tmp_path / "m"
    out = run_train(path, model_dir)
    assert out.returncode == 3, out.stderr[-2000:]
    message = one_paragraph(out.stderr)
    assert message.startswith("Data error: the training loss became nan at step 2, so training stopped")
    import easyrank  # noqa: F401
    # isort: split
    import numpy as np
    import tensorflow as tf
    latest = tf.train.latest_checkpoint(str(model_dir))
    assert latest.endswith("ckpt-1")  # the last good one; step 2's poisoned state was not saved
    reader = tf.train.load_checkpoint(latest)
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.isfinite(value).all(), name
    assert versions(model_dir / "export") == []
    assert not (model_dir / "eval_result.json").exists()
    assert not (model_dir / "run.lock").exists()  # released on the error


@pytest.mark.parametrize("which", ["train", "eval"])
def test_truncated_gzip_input_is_a_data_error_before_training(tmp_path, which):
    data = tmp_path / "cut.csv.gz"
    blob = gzip.compress(open(TINY, "rb").read())
    data.write_bytes(blob[:len(blob) * 2 // 3])
    old = TRAIN if which == "train" else EVAL
    path = write_config(tmp_path, old, f'{which}_input_path: "{data}"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3
    assert one_paragraph(out.stderr).startswith(
        f"Data error: {data} is truncated: its gzip stream ends early")
    assert not [f for f in os.listdir(tmp_path / "m") if f.startswith("ckpt")]  # found before training


def test_corrupt_gzip_input(tmp_path):
    data = tmp_path / "bad.csv.gz"
    blob = bytearray(gzip.compress(open(TINY, "rb").read()))
    blob[len(blob) // 2] ^= 0xFF
    data.write_bytes(bytes(blob))
    path = write_config(tmp_path, EVAL, f'eval_input_path: "{data}"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3
    assert one_paragraph(out.stderr).startswith(f"Data error: {data} is not a valid gzip file or is corrupt")


def test_missing_eval_path_is_found_before_training(tmp_path):
    path = write_config(tmp_path, EVAL, 'eval_input_path: "/nonexistent/eval.csv"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3
    assert one_paragraph(out.stderr).startswith("Data error: Input file not found: '/nonexistent/eval.csv'")
    assert not [f for f in os.listdir(tmp_path / "m") if f.startswith("ckpt")]


@pytest.mark.parametrize("which, fragment", [
    ("train", "has no rows: nothing to train on."),
    ("eval", "has no rows: nothing to evaluate."),
])
def test_header_only_input(tmp_path, which, fragment):
    data = tiny_with(tmp_path, "header.csv", lines=lambda text: text[:1])
    path = write_config(tmp_path, TRAIN if which == "train" else EVAL, f'{which}_input_path: "{data}"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3, out.stderr[-2000:]
    assert one_paragraph(out.stderr) == f"Data error: the {'training' if which == 'train' else 'evaluation'} " \
        f"data {data} {fragment}"


def test_all_rows_bad_with_skip_bad_rows(tmp_path):
    data = tiny_with(tmp_path, "bad.csv", lines=lambda text: text[:1] + [line + ",x" for line in text[1:]])
    path = write_config(tmp_path, TRAIN, f'train_input_path: "{data}"')
    text = open(path).read().replace("batch_size: 32", "batch_size: 32 skip_bad_rows: true")
    open(path, "w").write(text)
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3
    assert one_paragraph(out.stderr) == (f"Data error: the training data {data} has no rows left after "
                                         "skipping bad rows: nothing to train on.")


def test_model_dir_that_is_a_file(tmp_path):
    path = write_config(tmp_path, "num_epochs: 1", "num_epochs: 1")
    (tmp_path / "m").write_text("not a directory")
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 2
    assert one_paragraph(out.stderr) == (
        f"Config error: {path}:4: model_dir: '{tmp_path / 'm'}' exists and is not a directory.")


def test_model_dir_in_use_by_a_live_run_is_refused(tmp_path):
    path = write_config(tmp_path, "num_epochs: 1", "num_epochs: 1")
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "heartbeat": time.time(),
             "command": "python -m easyrank.train --pipeline_config_path other.config", "token": "t"}
    (model_dir / "run.lock").write_text(json.dumps(owner))
    out = run_train(path, model_dir)
    assert out.returncode == 2
    message = one_paragraph(out.stderr)
    assert f"model_dir: {model_dir} is in use by another run: pid {os.getpid()} on host {socket.gethostname()}" \
        in message
    assert "Two runs in one model_dir overwrite each other's checkpoints" in message
    assert sorted(os.listdir(model_dir)) == ["run.lock"]  # nothing written


def test_failed_resume_keeps_pipeline_config_and_checkpoints(tmp_path):
    path = write_config(tmp_path, "num_epochs: 1", "num_epochs: 1")
    model_dir = tmp_path / "m"
    out = run_train(path, model_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    saved = open(model_dir / "pipeline.config").read()
    files = sorted(os.listdir(model_dir))
    other = write_config(tmp_path, "hidden_units: [8]", "hidden_units: [16]", name="other.config")
    out = run_train(other, model_dir, "--edit_config_json", '{"train_config.num_epochs": 2}')
    assert out.returncode == 2
    message = one_paragraph(out.stderr)
    assert message.startswith(f"Config error: {other}:4: model_dir: the checkpoint {model_dir}/ckpt-7 does "
                              "not fit the model of this config")
    assert open(model_dir / "pipeline.config").read() == saved
    assert sorted(os.listdir(model_dir)) == files
    # The original config still resumes there (the failed run released its lock); its data is
    # used up, so it evaluates and exports again at the same step.
    out = run_train(path, model_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.load(open(model_dir / "eval_result.json"))["global_step"] == 7
    # check_export on a directory that is not a complete export: one paragraph, exit 3.
    version = versions(model_dir / "export")[-1]
    os.remove(model_dir / "export" / version / "saved_model.pb")
    check = subprocess.run([sys.executable, "-m", "easyrank.check_export", str(model_dir / "export" / version)],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert check.returncode == 3
    assert "holds no SavedModel" in one_paragraph(check.stderr)
    os.remove(model_dir / "export" / version / "variables" / "variables.index")
    open(model_dir / "export" / version / "saved_model.pb", "w").close()
    check = subprocess.run([sys.executable, "-m", "easyrank.check_export", str(model_dir / "export")],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert check.returncode == 3
    assert one_paragraph(check.stderr).endswith(
        f"{version}' is not a complete easyrank export: it lacks variables/variables.index. Export again "
        "(python -m easyrank.export) or point at a complete version.")


def _tfrecord_config(tmp_path, records):
    import easyrank  # noqa: F401
    # isort: split
    import tensorflow as tf
    data = tmp_path / "train.tfrecord"
    with tf.io.TFRecordWriter(str(data)) as writer:
        for record in records:
            writer.write(record)
    path = write_config(tmp_path, "data_config {", "data_config {")
    text = open(path).read()
    text = text.replace(f'"{ROOT}/tests/data/census_tiny.csv"', f'"{data}"').replace(
        "data_config {", "data_config {\n  format: TFRECORD")
    open(path, "w").write(text)
    return data, path


def _example(**values):
    import easyrank  # noqa: F401
    # isort: split
    import tensorflow as tf
    example = tf.train.Example()
    for key, value in values.items():
        if isinstance(value, str):
            example.features.feature[key].bytes_list.value.append(value.encode())
        else:
            example.features.feature[key].float_list.value.append(value)
    return example.SerializeToString()


@pytest.mark.parametrize("bad, expected", [
    (lambda: _example(age="forty", education="x", sex="Male", income_gt_50k=0.0),
     "{data} record 2, Key: age, Index: 1. Data types don't match. Data type: string but expected type: float"),
    (lambda: _example(age=float("inf"), education="x", sex="Male", income_gt_50k=0.0),
     "Malformed record in {data} at record 2: column age is not a finite 32-bit float: inf."),
    (lambda: b"\x01\x02not an example",
     "a record is not a serialized tf.Example: check that the input files are TFRecords of tf.Example"),
])
def test_tfrecord_data_errors_keep_file_record_and_key(tmp_path, bad, expected):
    good = _example(age=30.0, education="x", sex="Male", income_gt_50k=1.0)
    data, path = _tfrecord_config(tmp_path, [good, bad(), good])
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3, out.stderr[-2000:]
    message = one_paragraph(out.stderr)
    assert message.startswith("Data error: ") and expected.format(data=data) in message, message


# ---- Round three (docs/errors.md): code a file names, ... ----

def _run(verb, *args, env=None):
    return subprocess.run([sys.executable, "-m", f"easyrank.{verb}", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)


def test_import_modules_of_a_config_run_only_when_the_command_line_asks(tmp_path):
    """A config listing import_modules imports nothing unless --import_modules or --trust_config
    asks; what is imported is logged."""
    (tmp_path / "evil_mod.py").write_text(
        f"open({str(tmp_path / 'ran')!r}, 'w').write('imported')\n")
    path = write_config(tmp_path, TRAIN, TRAIN + '\nimport_modules: "evil_mod"')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, str(tmp_path)]))
    out = _run("train", "--pipeline_config_path", str(path), "--model_dir", str(tmp_path / "m"),
               env=env)
    assert out.returncode == 2, out.stderr[-2000:]
    assert one_paragraph(out.stderr) == (
        f"Config error: {path}:3: import_modules[0]: the config asks to import module 'evil_mod', "
        "and importing runs its code; easyrank imports only the modules named on the command "
        f"line. If you trust this config, run again with --import_modules evil_mod (or "
        f"--trust_config {path}); otherwise remove import_modules from the config.")
    assert not (tmp_path / "ran").exists() and not (tmp_path / "m").exists()
    # Trusted: imported and logged (the run then stops at its model_dir, on a scheme no file
    # layer knows: found after the imports; a local model_dir that is a file is found before).
    for flag in (["--trust_config", str(path)], ["--import_modules", "evil_mod"]):
        out = _run("train", "--pipeline_config_path", str(path), "--model_dir",
                   "nosuch://bucket/m", *flag, env=env)
        assert out.returncode == 2 and (tmp_path / "ran").exists(), out.stderr[-2000:]
        assert "Imported modules (asked on the command line): evil_mod" in out.stderr
        (tmp_path / "ran").unlink()
    # --trust_config names another file: not trusted.
    out = _run("train", "--pipeline_config_path", str(path), "--model_dir", str(tmp_path / "m"),
               "--trust_config", BASE_CONFIG, env=env)
    assert out.returncode == 2 and not (tmp_path / "ran").exists()


def test_multi_class_label_out_of_range_names_file_and_row(tmp_path):
    data = tiny_with(tmp_path, "train.csv", row=5, cells={"income_gt_50k": "7"})
    path = write_config(tmp_path, 'tasks { name: "income" label: "income_gt_50k" metrics: [AUC] }',
                        'tasks { name: "income" label: "income_gt_50k" '
                        'loss: SOFTMAX_CROSS_ENTROPY num_classes: 3 }')
    text = open(path).read().replace(f'train_input_path: "{TINY}"', f'train_input_path: "{data}"')
    open(path, "w").write(text)
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3, out.stderr[-2000:]
    assert one_paragraph(out.stderr) == (
        f"Data error: Malformed CSV row in {data} at line 6: label income_gt_50k is not a class "
        "0..2 (softmax cross-entropy, num_classes 3): 7.")


def test_positive_ftrl_learning_rate_power_is_a_config_error(tmp_path):
    path = write_config(tmp_path, "num_epochs: 1", "num_epochs: 1 optimizer { ftrl { "
                        "learning_rate: 0.1 learning_rate_power: 0.5 } }")
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 2, out.stderr[-2000:]
    assert one_paragraph(out.stderr).startswith(
        f"Config error: {path}:23: train_config.optimizer.ftrl.learning_rate_power: must be 0 or "
        "negative")


def test_no_eval_input_path_is_a_config_error_before_training(tmp_path):
    path = write_config(tmp_path, EVAL, "")
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 2, out.stderr[-2000:]
    assert one_paragraph(out.stderr).startswith(
        f"Config error: {path}: eval_input_path: is not set: a run ends with an evaluation")
    assert not os.path.exists(tmp_path / "m" / "checkpoint")


def test_eval_csv_without_a_column_is_found_before_training(tmp_path):
    data = tiny_with(tmp_path, "eval.csv", lines=lambda text: [
        ",".join(c for c in line.split(",") if c != "sex") if i == 0 else line
        for i, line in enumerate(text)])
    path = write_config(tmp_path, EVAL, f'eval_input_path: "{data}"')
    out = run_train(path, tmp_path / "m")
    assert out.returncode == 3, out.stderr[-2000:]
    assert one_paragraph(out.stderr).startswith(f"Data error: {data}: the header has no column 'sex'")
    assert not os.path.exists(tmp_path / "m" / "checkpoint")


def test_predict_and_export_refuse_outputs_that_destroy_or_cannot_be(tmp_path):
    model_dir = tmp_path / "m"
    path = write_config(tmp_path, "train_config { num_epochs: 1 }", "train_config { num_epochs: 1 }")
    out = run_train(path, model_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    version = os.path.join(model_dir, "export", versions(model_dir / "export")[-1])
    data = tiny_with(tmp_path, "score.csv")
    before = data.read_text()
    out = _run("predict", "--saved_model_dir", version, "--input_path", str(data),
               "--output_path", str(tmp_path / "." / "score.csv"))
    assert out.returncode == 2, out.stderr[-2000:]
    assert "--output_path" in one_paragraph(out.stderr) and "is also an input file" in out.stderr
    assert data.read_text() == before
    header_only = tiny_with(tmp_path, "header.csv", lines=lambda text: text[:1])
    out = _run("predict", "--saved_model_dir", version, "--input_path", str(header_only),
               "--output_path", str(tmp_path / "scores.csv"))
    assert out.returncode == 3, out.stderr[-2000:]
    assert one_paragraph(out.stderr) == (
        f"Data error: {header_only} has no rows: nothing to score; {tmp_path / 'scores.csv'} was "
        "not written.")
    assert not (tmp_path / "scores.csv").exists()
    (tmp_path / "a_file").write_text("")
    out = _run("export", "--pipeline_config_path", str(path), "--model_dir", str(model_dir),
               "--export_dir", str(tmp_path / "a_file"))
    assert out.returncode == 2, out.stderr[-2000:]
    assert one_paragraph(out.stderr).endswith(
        f"--export_dir: {str(tmp_path / 'a_file')!r} exists and is not a directory.")
    # Damaged copies of the export: a data error naming the file, for predict and check_export.
    import shutil
    for damage, fragment in [("saved_model.pb", "saved_model.pb is damaged"),
                             ("variables/variables.data-00000-of-00001", "is missing")]:
        damaged = tmp_path / "damaged"
        shutil.rmtree(damaged, ignore_errors=True)
        shutil.copytree(version, damaged)
        if damage == "saved_model.pb":
            (damaged / damage).write_bytes(b"\xff\xfe not a protobuf")
        else:
            os.remove(damaged / damage)
        for verb, args in [("predict", ["--saved_model_dir", str(damaged), "--input_path",
                                        str(data), "--output_path", str(tmp_path / "s.csv")]),
                           ("check_export", [str(damaged), "--skip_cc_loader"])]:
            out = _run(verb, *args)
            assert out.returncode == 3, (verb, out.stderr[-2000:])
            message = one_paragraph(out.stderr)
            assert message.startswith("Data error: ") and fragment in message, message
