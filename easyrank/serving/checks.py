"""The export checks behind `python -m easyrank.check_export`.

Checks that an export will load and answer in TF Serving, where no
tensorflow_model_server is installed. DIR is a version directory or an export
base directory (its highest version is checked).

1. In a fresh Python process that never imports easyrank (easyrank/serving/serving_sim.py
   run as a script): every op is a registered core TensorFlow op, there is no
   py_function, no XLA-only function and no op on `saved_model_cli scan`'s
   denylist; the warmup records (at most 1000) are replayed through their
   signatures with TF Serving's rules (input keys equal to the signature's,
   dtypes, Regress/Classify method names and output shapes) and together call
   every signature; requests of the wrong dtype are refused with a clear error.
2. The first `num_rows` rows of X (default: the evaluation data named in the
   export's pipeline.config) are sent through every signature in that
   process, and the scores are compared with `python -m easyrank.predict` on
   the same rows and with the model rebuilt in memory from pipeline.config
   and the export's variables.
3. With cc_check (check_export always, unless --skip_cc_loader): a C++ program
   linked against the tensorflow wheel's C++ libraries only loads the export
   with tensorflow::LoadSavedModel (tag "serve"), as tensorflow_model_server
   does, and runs every signature (easyrank/serving/cc_check.py). A loader that
   cannot be built is a problem, not a skip.

"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from easyrank.data import list_files
from easyrank.data.csv_reader import open_text
from easyrank.errors import DataError
from easyrank.io import arrow, files, schemes
from easyrank.models import build_model
from easyrank.models.heads import prediction_key
from easyrank.protos import data_pb2
from easyrank.serving import cc_check as cc
from easyrank.serving import warmup
from easyrank.serving.check_processes import read_report
from easyrank.serving.predictor import parsed_dataset, predict_file
from easyrank.serving.saved_model import read_pipeline_config, resolve_version_dir


def read_rows_file(config, path, num_rows, out_dir):
    """Copies the first num_rows rows of `path` to a small file; returns its path."""
    if config.data_config.format == data_pb2.DataConfig.TFRECORD:
        out = os.path.join(out_dir, "rows.tfrecord")
        compression = "GZIP" if path.endswith(".gz") else ""
        with tf.io.TFRecordWriter(out) as writer:
            for record in tf.data.TFRecordDataset(path, compression_type=compression).take(num_rows):
                writer.write(record.numpy())
        return out
    if config.data_config.format == data_pb2.DataConfig.PARQUET:
        out = os.path.join(out_dir, "rows.parquet")
        first = next(pq.ParquetFile(arrow.open_input(path)).iter_batches(batch_size=num_rows))
        pq.write_table(pa.Table.from_batches([first]), out)
        return out
    out = os.path.join(out_dir, "rows.csv")
    with open_text(path) as src, files.open(out, "w") as dst:
        for i, line in enumerate(src):
            if i >= num_rows + (1 if config.data_config.csv_header else 0):
                break
            dst.write(line)
    return out


def signature_inputs(version_dir):
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(files.read_bytes(os.path.join(version_dir, "saved_model.pb")))
    return {name: sorted(sig.inputs) for name, sig in saved_model.meta_graphs[0].signature_def.items()
            if not name.startswith("__")}


def model_in_memory(config, version_dir, features):
    """Rebuilds the model from pipeline.config, restores the export's variables, calls it."""
    model = build_model(config)
    tf.train.Checkpoint(model=model).restore(
        os.path.join(version_dir, "variables", "variables")).expect_partial()
    return {k: v.numpy() for k, v in model(features, training=False).items()}


def compare(name, got, expected, tolerance, problems, lines):
    got, expected = np.asarray(got, np.float64).reshape(-1), np.asarray(expected, np.float64).reshape(-1)
    if got.shape != expected.shape:
        problems.append(f"{name}: {got.shape[0]} values, expected {expected.shape[0]}")
        return
    diff = np.abs(got - expected)
    largest = float(diff.max()) if got.size else 0.0
    lines.append(f"  {name}: max |diff| {largest:.2e} over {got.size} values")
    # Relative above 1: easyrank.predict writes 7 significant digits.
    if not np.all(diff <= tolerance * np.maximum(1.0, np.abs(expected))):
        problems.append(f"{name}: max |diff| {largest:.3g} > tolerance {tolerance} (x max(1, |value|))")


def check(export_path, input_path=None, num_rows=64, tolerance=1e-5, cc_check=False, skip_cc_loader=False,
          in_memory=True, processes=None):
    """Runs every check; returns (problems, report lines). in_memory False skips the
    comparison with the model rebuilt in memory (which may need the custom modules).
    processes: a check_processes.CheckProcesses that checks several exports with one
    serving process and one C++ loader (default: both started for this export).

    The two processes (the fresh Python one and the C++ loader) run beside the
    in-process comparisons: that saves wall time, not CPU.
    """
    version_dir = resolve_version_dir(export_path)
    config = read_pipeline_config(version_dir)
    path = list_files([input_path] if input_path else
                      list(config.eval_input_path) or list(config.train_input_path))[0]
    with tempfile.TemporaryDirectory(prefix="easyrank_check_") as work:  # local: the fresh process reads it
        if not schemes.get(version_dir).shared:  # ram://: another process cannot see it
            local = os.path.join(work, "export", os.path.basename(version_dir.rstrip("/")))
            files.copy_tree(version_dir, local)
            version_dir = local
        shared = processes is not None
        if not cc_check:
            loader = [], []
        else:
            loader = processes.start_cc(version_dir) if shared and not skip_cc_loader else cc.start(
                version_dir, skip=skip_cc_loader)
        fresh = None
        try:
            rows_file = read_rows_file(config, path, num_rows, work)
            features, parsed = _parse_rows(config, rows_file, num_rows)
            logs = warmup.build_prediction_logs(config.export_config.model_name, signature_inputs(version_dir),
                                                features, batch_sizes=(len(next(iter(features.values()))),))
            requests = os.path.join(work, "requests.tfrecord")
            warmup.write_prediction_logs(requests, logs)
            fresh = (processes.start_fresh if shared else _start_fresh_process)(version_dir, requests, work)
            expected = model_in_memory(config, version_dir, features) if in_memory else None
            scores = os.path.join(work, "scores.csv")
            predict_file(version_dir, [rows_file], scores, batch_size=num_rows, parsed=parsed)
            predicted = np.genfromtxt(scores, delimiter=",", names=True, dtype=np.float64, deletechars="")
            report, outputs = (processes.finish_fresh if shared else _finish_fresh_process)(fresh)
            problems, lines = _compare_all(config, version_dir, report, outputs, expected, predicted,
                                           tolerance)
            cc_problems, cc_lines = (processes.finish_cc if shared else cc.finish)(loader)
        finally:
            if not shared:  # a shared process's late answer is skipped by the next check
                cc.stop(loader)
                _stop(fresh)
    return problems + cc_problems, lines + cc_lines


def _parse_rows(config, rows_file, num_rows):
    """(features as numpy, the parsed batches for predict_file): the rows are parsed once, by
    easyrank.predict's own reader, for the requests, the model in memory and easyrank.predict.
    TFRecord: predict_file sends the records themselves (parsed is None)."""
    if config.data_config.format == data_pb2.DataConfig.TFRECORD:
        features, _ = warmup.read_rows(_with_eval_path(config, rows_file), num_rows)
        return features, None
    parsed = list(parsed_dataset(config.data_config, [rows_file], num_rows))
    if not parsed:
        raise DataError(f"{rows_file} has no rows: nothing to check the export on.")
    return {k: v.numpy() for k, v in parsed[0][0].items()}, parsed


def _compare_all(config, version_dir, report, outputs, expected, predicted, tolerance):
    """(problems, lines): the served outputs against the model in memory (expected None: that
    comparison is skipped) and easyrank.predict's scores against serving_default."""
    problems, lines = list(report["problems"]), [
        f"{version_dir}: {len(report['signatures']) - 1} signatures "
        f"({', '.join(sorted(k for k in report['signatures'] if not k.startswith('__')))}), "
        f"{report['num_ops']} op types, {report['warmup_records']} warmup records"]
    if expected is None:  # the served outputs stand in for the keys and shapes
        expected = {k.split("|")[1]: np.asarray(v) for k, v in outputs.items()
                    if k.startswith("serving_default|")}
        outputs_to_compare = {}
        compared = True  # skipped on purpose: check_export reports it as SKIPPED
    else:
        outputs_to_compare = outputs
        compared = False
    for key, value in sorted(outputs_to_compare.items()):
        signature, output = key.split("|")
        reference = _reference(config, signature, output, expected, prediction_key)
        if reference is not None:
            compared = True
            compare(f"{signature}/{output} vs model in memory", value, reference, tolerance, problems, lines)
    if not compared:
        problems.append("no signature output could be compared with the model in memory")
    for key in sorted(expected):
        if expected[key].ndim == 2:  # a vector output: one column per element
            columns = [f"{key}_{i}" for i in range(expected[key].shape[1])]
            if all(c in predicted.dtype.names for c in columns) and f"serving_default|{key}" in outputs:
                got = np.stack([np.atleast_1d(predicted[c]) for c in columns], axis=1)
                compare(f"easyrank.predict {key} vs serving_default", got, outputs[f"serving_default|{key}"],
                        tolerance, problems, lines)
            else:
                problems.append(f"easyrank.predict wrote no columns {key}_0..")
            continue
        column = key if key in predicted.dtype.names else None
        if column is None:
            problems.append(f"easyrank.predict wrote no column {key}")
            continue
        served = outputs.get(f"serving_default|{key}")
        if served is None:
            problems.append(f"serving_default gave no {key} to compare with easyrank.predict")
            continue
        compare(f"easyrank.predict {key} vs serving_default", np.atleast_1d(predicted[column]),
                served, tolerance, problems, lines)
    return problems, lines


def _with_eval_path(config, path):
    copy = type(config)()
    copy.CopyFrom(config)
    del copy.eval_input_path[:]
    copy.eval_input_path.append(path)
    return copy


def _reference(config, signature, output, expected, prediction_key):
    """The in-memory output a signature's output should equal (None: not compared)."""
    if output in expected:
        return expected[output]
    tasks = list(config.model_config.tasks)
    for task in tasks:
        prefix = "" if len(tasks) == 1 else f"{task.name}/"
        if signature == prefix + "regress" and output == "outputs":
            return expected[prediction_key(task)]
        if signature == prefix + "classify" and output == "scores":
            probs = expected[prediction_key(task)]
            return probs if probs.ndim == 2 else [[1.0 - p, p] for p in probs]
    return None


def _start_fresh_process(version_dir, requests, work):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving_sim.py")
    out, npz = os.path.join(work, "report.json"), os.path.join(work, "outputs.npz")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # Read at the end (communicate): until then a full pipe only pauses the process.
    proc = subprocess.Popen([sys.executable, script, version_dir, "--out", out, "--requests", requests,
                             "--outputs", npz], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    return proc, out, npz


def _finish_fresh_process(started):
    proc, out, npz = started
    try:
        _, log = proc.communicate(timeout=cc.TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(started)
        raise RuntimeError(f"the fresh-process check gave no answer within {cc.TIMEOUT_S} s") from None
    return read_report(out, npz, lambda: log)


def _stop(started):
    """Ends a _start_fresh_process() that was not finished (a check failed before)."""
    if started is not None:
        cc.stop(started[0])
