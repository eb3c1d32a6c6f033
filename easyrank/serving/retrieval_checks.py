"""check_export for retrieval exports (serving/retrieval_export.py).

For the top-k model and, beside it, the query-tower and item-tower models of the same
version: the fresh-process TF Serving checks of serving/serving_sim.py (core ops only,
warmup replay, request rules), the outputs of every signature on real rows against
the model rebuilt in memory (embeddings; the top-k ids and scores against an exact
NumPy top-k over the corpus), the item embeddings file against the item tower, and
the C++ tensorflow::LoadSavedModel run of every signature. The three models are checked by
one serving process and one C++ loader (check_processes.CheckProcesses).
"""

import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from easyrank.data import list_files
from easyrank.io import files
from easyrank.models import build_model
from easyrank.models.retrieval_corpus import corpus_of
from easyrank.serving import checks, warmup
from easyrank.serving.check_processes import CheckProcesses
from easyrank.serving.retrieval_export import ITEM_EMBEDDINGS_ASSET, SUBMODELS, read_embeddings
from easyrank.serving.saved_model import read_pipeline_config, resolve_version_dir


def model_dirs(version_dir):
    """{"": top-k dir, "query_tower": dir, "item_tower": dir} of one export version."""
    version = os.path.basename(os.path.normpath(version_dir))
    base = os.path.dirname(os.path.normpath(version_dir))
    dirs = {"": version_dir}
    for sub in SUBMODELS:
        path = os.path.join(base, sub, version)
        if files.isdir(path):
            dirs[sub] = path
    return dirs


def check(export_path, input_path=None, num_rows=64, tolerance=1e-5, cc_check=False):
    """Runs every check on a retrieval export's version; returns (problems, report lines)."""
    version_dir = resolve_version_dir(export_path)
    config = read_pipeline_config(version_dir)
    path = list_files([input_path] if input_path else
                      list(config.eval_input_path) or list(config.train_input_path))[0]
    work = tempfile.mkdtemp(prefix="easyrank_check_")
    try:
        with CheckProcesses() as processes:
            return _check(config, version_dir, path, num_rows, tolerance, cc_check, work, processes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check(config, version_dir, path, num_rows, tolerance, cc_check, work, processes):
    rows_file = checks.read_rows_file(config, path, num_rows, work)
    features, _ = warmup.read_rows(checks._with_eval_path(config, rows_file), num_rows)
    model = build_model(config)
    tf.train.Checkpoint(model=model).restore(
        os.path.join(version_dir, "variables", "variables")).expect_partial()
    query = model.query_embedding(features).numpy()
    item = model.item_embedding(features).numpy()
    corpus = corpus_of(config)
    corpus_embeddings = model.embed_corpus(corpus.features)
    problems, lines = [], []
    dirs = model_dirs(version_dir)
    for sub in SUBMODELS:
        if sub not in dirs:
            problems.append(f"no {sub} model beside {version_dir}")
    for sub, directory in dirs.items():
        expected = {"query_tower": {"embedding": query}, "item_tower": {"embedding": item}}.get(sub)
        if not sub:
            k = config.model_config.retrieval.export_top_k
            scores = query @ corpus_embeddings.T
            best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            expected = {"scores": np.take_along_axis(scores, best, axis=1),
                        "item_ids": corpus.ids.astype(bytes)[best], "embedding": query}
        _check_one(config, directory, features, expected, tolerance, cc_check, work, problems, lines,
                   processes)
    if "item_tower" in dirs:
        ids, vectors = read_embeddings(os.path.join(dirs["item_tower"], "assets.extra",
                                                    ITEM_EMBEDDINGS_ASSET))
        if list(ids) != list(corpus.ids.astype(bytes)):
            problems.append(f"{ITEM_EMBEDDINGS_ASSET}: its ids differ from the corpus'")
        else:
            checks.compare(f"{ITEM_EMBEDDINGS_ASSET} vs item tower in memory", vectors,
                           corpus_embeddings, tolerance, problems, lines)
    return problems, lines


def _check_one(config, directory, features, expected, tolerance, cc_check, work, problems, lines, processes):
    logs = warmup.build_prediction_logs(config.export_config.model_name,
                                        checks.signature_inputs(directory), features,
                                        batch_sizes=(len(next(iter(features.values()))),))
    requests = os.path.join(work, f"requests-{abs(hash(directory))}.tfrecord")
    warmup.write_prediction_logs(requests, logs)
    loader = processes.start_cc(directory) if cc_check else None
    report, outputs = processes.finish_fresh(processes.start_fresh(directory, requests, work))
    problems += [f"{directory}: {p}" for p in report["problems"]]
    lines.append(f"{directory}: {len(report['signatures']) - 1} signatures "
                 f"({', '.join(sorted(s for s in report['signatures'] if not s.startswith('__')))}), "
                 f"{report['num_ops']} op types, {report['warmup_records']} warmup records")
    for key, value in sorted(outputs.items()):
        signature, output = key.split("|")
        if output not in expected:
            problems.append(f"{directory}: {signature} gave an unexpected output {output}")
        elif value.dtype.kind in "OSU":
            if not np.array_equal(value.astype(bytes), expected[output]):
                problems.append(f"{directory}: {signature}/{output} differs from the exact top-k")
            else:
                lines.append(f"  {signature}/{output}: equal to the exact top-k over the corpus")
        else:
            checks.compare(f"{signature}/{output} vs model in memory", value, expected[output],
                           tolerance, problems, lines)
    if cc_check:
        cc_problems, cc_lines = processes.finish_cc(loader)
        problems += cc_problems
        lines += cc_lines
