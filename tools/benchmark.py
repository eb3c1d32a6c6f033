"""Training and serving benchmark of a config, optionally against DeepCTR's DCNMix.

By default (issue 23) it reports what a user waits for: the wall time of
`python -m easyrank.train` from process start to a written export (and to the
process's exit), split into easyrank's phases from the run's own
model_dir/phases.json (import, build: config and model, input: the input
pipeline's start and step count, tracing: the first step, training, evaluation,
export, exit), against DeepCTR's whole process (pandas read, fit, predict,
SavedModel) on the same data, alternated; each run's phases are shown, so a
10 % change of one phase stands out against the run-to-run spread. It also
runs the steady-state training rate of the same config in-process
(tools/benchmark_easyrank.py) with the row-wise table optimizer and with
tf_keras' dense form of it on the same tables, and prints the largest table.

    python tools/benchmark.py --config samples/configs/census_dcn_mix.config \
        --peer_python /work/peer-venv/bin/python --repeats 3 --output /tmp/bench.json

--details instead runs the measures below (the issue 9 benchmark). Each run
is a fresh process (tools/benchmark_easyrank.py, and with
--peer_python tools/benchmark_deepctr.py in that interpreter's virtualenv).
Runs alternate, ours then theirs, --repeats times, so that machine noise hits
both; the table shows the median of each measure and the ratio ours/theirs.

Measures: training examples/s in the steady state (from step --warmup_steps to
the end, so tracing and the first shuffle-buffer fill are excluded) and over
the whole fit; input-pipeline rows/s (easyrank: the training tf.data pipeline
drained without a model: the first epoch, the later epochs (served from
memory with data_config.cache) and all; DeepCTR: pandas read + LabelEncoder); test
AUC; inference examples/s of the exported SavedModel
(batches of batch_size, raw feature tensors in); peak resident memory of the
process; number of parameters.

    .venv/bin/python tools/benchmark.py --config samples/configs/census_dcn_mix.config \
        --peer_python /work/peer-venv/bin/python --repeats 2 --output /tmp/bench.json

The peer needs DeepCTR's README recipe in its own virtualenv:
    python3.11 -m venv /work/peer-venv && /work/peer-venv/bin/pip install deepctr==0.9.4 \
        "tensorflow==2.21.*" "tf-keras==2.21.*" pandas scikit-learn
The DCNMix peer is built from the config's first dcn_mix and first mlp blocks,
its id_features (embedding_dim) and raw_features (log1p/z-score normalizer).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MEASURES = [
    ("train_examples_per_s", "train ex/s (steady)", "{:,.0f}"),
    ("train_examples_per_s_overall", "train ex/s (whole fit)", "{:,.0f}"),
    ("train_seconds", "fit seconds", "{:.1f}"),
    ("input_rows_per_s", "input rows/s (1st epoch)", "{:,.0f}"),
    ("input_rows_per_s_later_epochs", "input rows/s (epochs 2..n)", "{:,.0f}"),
    ("input_rows_per_s_all_epochs", "input rows/s (all epochs)", "{:,.0f}"),
    ("test_auc", "test AUC", "{:.4f}"),
    ("inference_examples_per_s", "inference ex/s", "{:,.0f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:,.0f}"),
    ("params", "parameters", "{:,.0f}"),
]


def peer_spec(config, test_input_path):
    """The DeepCTR run's settings, read from an easyrank PipelineConfig."""
    blocks = config.model_config.backbone.blocks
    dcn = next(b.dcn_mix for b in blocks if b.WhichOneof("layer") == "dcn_mix")
    mlp = next(b.mlp for b in blocks if b.WhichOneof("layer") == "mlp")
    optimizer = config.train_config.optimizer
    learning_rate = optimizer.adam.learning_rate if optimizer.HasField("adam") else 0.001
    sparse, dense = [], []
    for wrapper in config.feature_configs:
        kind = wrapper.WhichOneof("feature")
        feature = getattr(wrapper, kind)
        if kind == "id_feature":
            sparse.append({"name": feature.input_name or feature.name,
                           "embedding_dim": feature.embedding_dim})
        elif kind == "raw_feature":
            norm = feature.normalizer
            dense.append({"name": feature.input_name or feature.name, "log1p": norm.log1p,
                          "mean": norm.mean if norm.HasField("std") else 0.0,
                          "std": norm.std if norm.HasField("std") else 1.0})
    return {
        "train_input_path": os.path.abspath(config.train_input_path[0]),
        "test_input_path": os.path.abspath(test_input_path),
        "label": config.model_config.tasks[0].label,
        "sparse": sparse, "dense": dense,
        "cross_num": dcn.num_layers, "num_experts": dcn.num_experts, "low_rank": dcn.projection_dim,
        "dnn_hidden_units": list(mlp.hidden_units),
        "batch_size": config.data_config.batch_size, "epochs": config.train_config.num_epochs,
        "learning_rate": learning_rate, "seed": config.train_config.seed,
    }


def run(command, label):
    """Runs one benchmark process; returns its JSON result."""
    print(f"[benchmark] {label}: {' '.join(command)}", file=sys.stderr, flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"[benchmark] {label} failed with exit code {done.returncode}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[benchmark] {label}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


PHASES = ["import", "build", "input", "tracing", "training", "evaluation", "export", "exit"]


def run_whole(command, label, model_dir, root=ROOT):
    """Wall seconds of one process from its start to its exit, with its phases when it wrote them.

    root: the checkout whose easyrank runs (its PYTHONPATH and working directory).
    """
    print(f"[benchmark] {label}: {' '.join(command)}", file=sys.stderr, flush=True)
    env = dict(os.environ, PYTHONPATH=root)
    started = time.time()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False, env=env)
    ended = time.time()
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"[benchmark] {label} failed with exit code {done.returncode}")
    result = {"whole_seconds": ended - started}
    if model_dir:
        from easyrank.training.phases import read_phases  # noqa: PLC0415
        phases = read_phases(model_dir, started)
        phases["exit"] = ended - started - sum(phases.values())
        result.update(phases)
        result["to_export_seconds"] = result["whole_seconds"] - phases["exit"]
        with open(os.path.join(model_dir, "eval_result.json"), encoding="utf-8") as f:
            evaluated = json.load(f)
        result["eval_auc"] = next((v for k, v in evaluated.items() if k.endswith("/auc")), float("nan"))
    else:
        result.update({k: v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()
                       if k in ("test_auc", "train_seconds")})
    print(f"[benchmark] {label}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def largest_table(config):
    """Rows of the config's largest embedding table (hash buckets, vocabulary or num_buckets)."""
    rows = 0
    for wrapper in config.feature_configs:
        feature = getattr(wrapper, wrapper.WhichOneof("feature"))
        for field in ("hash_bucket_size", "num_buckets", "max_rows"):
            if hasattr(feature, field):
                rows = max(rows, getattr(feature, field))
        if hasattr(feature, "vocab_list"):
            rows = max(rows, len(feature.vocab_list) + 2)
    return rows


def whole_table(runs):
    """Markdown: each phase per easyrank run and its median (and the baseline's), then the whole
    process against DeepCTR."""
    ours, theirs, base = runs["easyrank"], runs["deepctr"], runs.get("baseline")
    head = "| seconds | " + " | ".join(f"run {i + 1}" for i in range(len(ours))) + " | median |"
    if base:
        head += " baseline runs | baseline median | change |"
    lines = [head, "|---|" + "---:|" * (len(ours) + 1) + ("---:|---:|---:|" if base else "")]
    for key in PHASES + ["to_export_seconds", "whole_seconds"]:
        values = [r[key] for r in ours if key in r]
        if values:
            label = {"to_export_seconds": "**to a written export**",
                     "whole_seconds": "**whole process**"}.get(key, key)
            row = f"| {label} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {statistics.median(values):.2f} |"
            if base:
                before = [r[key] for r in base if key in r]
                row += (" " + ", ".join(f"{v:.2f}" for v in before) + f" | {statistics.median(before):.2f} | "
                        f"{statistics.median(values) - statistics.median(before):+.2f} |") if before else " | | |"
            lines.append(row)
    if theirs:
        values = [r["whole_seconds"] for r in theirs]
        lines.append("| DeepCTR whole process | " + " | ".join(f"{v:.2f}" for v in values)
                     + f" | {statistics.median(values):.2f} |")
        ratios = [t["whole_seconds"] / o["whole_seconds"] for o, t in zip(ours, theirs)]
        lines.append("| **DeepCTR / easyrank** | " + " | ".join(f"{v:.2f}x" for v in ratios)
                     + f" | {statistics.median(ratios):.2f}x |")
        if base:
            ratios = [t["whole_seconds"] / b["whole_seconds"] for b, t in zip(base, theirs)]
            lines.append("| DeepCTR / easyrank baseline | " + " | ".join(f"{v:.2f}x" for v in ratios)
                         + f" | {statistics.median(ratios):.2f}x |")
    for name, group in (("easyrank", ours), ("baseline", base or [])):
        aucs = [r["eval_auc"] for r in group]
        if aucs:
            lines.append(f"| {name} eval AUC | " + " | ".join(f"{v:.4f}" for v in aucs)
                         + f" | {statistics.median(aucs):.4f} |")
    if theirs:
        aucs = [r["test_auc"] for r in theirs]
        lines.append("| DeepCTR test AUC | " + " | ".join(f"{v:.4f}" for v in aucs)
                     + f" | {statistics.median(aucs):.4f} |")
    return "\n".join(lines)


def load_average():
    try:
        return os.getloadavg()
    except OSError:
        return None


def summarize(runs):
    """{measure: median} over a system's runs."""
    keys = {k for r in runs for k in r if isinstance(r[k], (int, float))}
    return {k: statistics.median(r[k] for r in runs if k in r) for k in sorted(keys)}


def table(ours, theirs):
    """Markdown table of medians (and the ratio ours/theirs when there is a peer)."""
    head = "| measure | easyrank |" + (" DeepCTR | easyrank / DeepCTR |" if theirs else "")
    rule = "|---|---:|" + ("---:|---:|" if theirs else "")
    lines = [head, rule]
    for key, label, fmt in MEASURES:
        if key not in ours and key not in (theirs or {}):
            continue
        cell = lambda s: fmt.format(s[key]) if key in s else "n/a"  # noqa: E731
        row = f"| {label} | {cell(ours)} |"
        if theirs:
            ratio = (f"{ours[key] / theirs[key]:.2f}x" if key in ours and key in theirs and theirs[key]
                     and key != "test_auc" else
                     f"{ours[key] - theirs[key]:+.4f}" if key == "test_auc" and key in theirs else "")
            row += f" {cell(theirs)} | {ratio} |"
        lines.append(row)
    return "\n".join(lines)


def write_report(path, report):
    """Writes the JSON report to `path` (nothing when empty) and says where."""
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
        print(f"JSON: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--test_input_path", default="samples/data/census/test.csv.gz")
    parser.add_argument("--edit_config_json", default="",
                        help="Overrides for the easyrank config (and so the peer's spec).")
    parser.add_argument("--peer_python", default="", help="Python of a virtualenv with deepctr==0.9.4.")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup_steps", type=int, default=20)
    parser.add_argument("--skip_export", action="store_true")
    parser.add_argument("--work_dir", default="")
    parser.add_argument("--output", default="", help="Write the JSON report here.")
    parser.add_argument("--details", action="store_true",
                        help="The in-process measures (input, steady and whole-fit rates, inference) "
                             "instead of the whole process and its phases.")
    parser.add_argument("--baseline_root", default="",
                        help="Another checkout of easyrank (e.g. `git worktree add /tmp/base COMMIT`) whose "
                             "whole process runs alternated with this one's: before/after in one command.")
    parser.add_argument("--no_steady", action="store_true",
                        help="Without the steady-rate runs (row-wise against dense table optimizer).")
    args = parser.parse_args()

    sys.path.insert(0, ROOT)
    from easyrank.config import load_config  # noqa: PLC0415 (keep --help free of TensorFlow)

    config = load_config(args.config, args.edit_config_json or None)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="easyrank_bench_")
    os.makedirs(work_dir, exist_ok=True)
    spec_path = os.path.join(work_dir, "peer_spec.json")
    if args.peer_python:
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(peer_spec(config, args.test_input_path), f, indent=1)
    if not args.details:
        whole_process(args, config, work_dir, spec_path)
        return
    common = ["--warmup_steps", str(args.warmup_steps)] + (["--skip_export"] if args.skip_export else [])
    load_before = load_average()
    runs = {"easyrank": [], "deepctr": []}
    for i in range(args.repeats):
        ours_dir = os.path.join(work_dir, f"easyrank_{i}")
        runs["easyrank"].append(run([sys.executable, os.path.join(HERE, "benchmark_easyrank.py"),
                                     "--config", args.config, "--test_input_path", args.test_input_path,
                                     "--work_dir", ours_dir] + common
                                    + (["--edit_config_json", args.edit_config_json]
                                       if args.edit_config_json else []), f"easyrank run {i + 1}"))
        if args.peer_python:
            runs["deepctr"].append(run([args.peer_python, os.path.join(HERE, "benchmark_deepctr.py"),
                                        "--spec", spec_path,
                                        "--work_dir", os.path.join(work_dir, f"deepctr_{i}")] + common,
                                       f"DeepCTR run {i + 1}"))
    ours = summarize(runs["easyrank"])
    theirs = summarize(runs["deepctr"]) if runs["deepctr"] else None
    report = {"config": args.config, "edit_config_json": args.edit_config_json,
              "repeats": args.repeats, "load_average_before": load_before,
              "load_average_after": load_average(), "cpu_count": os.cpu_count(),
              "median": {"easyrank": ours, "deepctr": theirs}, "runs": runs}
    if theirs:
        report["ratio"] = {k: ours[k] / theirs[k] for k in ours if k in theirs and theirs[k]}
    print(table(ours, theirs))
    print(f"\nload average before {load_before}, after {report['load_average_after']}; "
          f"{os.cpu_count()} CPUs; medians of {args.repeats} runs each")
    write_report(args.output, report)


def whole_process(args, config, work_dir, spec_path):
    """The default benchmark: whole processes alternated, then the steady rates (see the docstring)."""
    edit = ["--edit_config_json", args.edit_config_json] if args.edit_config_json else []
    load_before = load_average()
    runs = {"easyrank": [], "deepctr": [], "steady_rowwise": [], "steady_dense": []}
    if args.baseline_root:
        runs["baseline"] = []
    for i in range(args.repeats):
        for key, root in (("easyrank", ROOT), ("baseline", args.baseline_root)):
            if key not in runs:
                continue
            model_dir = os.path.join(work_dir, f"{key}_{i}")
            runs[key].append(run_whole([sys.executable, "-m", "easyrank.train", "--pipeline_config_path",
                                        os.path.join(ROOT, args.config), "--model_dir", model_dir] + edit,
                                       f"{key} whole process {i + 1}", model_dir, root=root))
        if args.peer_python:
            runs["deepctr"].append(run_whole([args.peer_python, os.path.join(HERE, "benchmark_deepctr.py"),
                                              "--spec", spec_path, "--inference_batches", "0",
                                              "--work_dir", os.path.join(work_dir, f"deepctr_{i}")],
                                             f"DeepCTR whole process {i + 1}", None))
    if not args.no_steady:
        for i in range(args.repeats):
            for key, extra in (("steady_rowwise", []), ("steady_dense", ["--dense_table_optimizer"])):
                runs[key].append(run([sys.executable, os.path.join(HERE, "benchmark_easyrank.py"),
                                      "--config", args.config, "--test_input_path", args.test_input_path,
                                      "--work_dir", os.path.join(work_dir, f"{key}_{i}"), "--skip_input",
                                      "--skip_export", "--warmup_steps", str(args.warmup_steps)]
                                     + extra + edit, f"easyrank {key} {i + 1}"))
    report = {"config": args.config, "edit_config_json": args.edit_config_json, "repeats": args.repeats,
              "load_average_before": load_before, "load_average_after": load_average(),
              "cpu_count": os.cpu_count(), "largest_table_rows": largest_table(config), "runs": runs}
    print(whole_table(runs))
    if runs["steady_rowwise"]:
        rates = {k: [r["train_examples_per_s"] for r in runs[k]] for k in ("steady_rowwise", "steady_dense")}
        medians = report["steady_examples_per_s"] = {k: statistics.median(v) for k, v in rates.items()}
        print(f"\nsteady train ex/s (from step {args.warmup_steps}), tables of at most "
              f"{report['largest_table_rows']:,} rows: row-wise table optimizer "
              + ", ".join(f"{v:,.0f}" for v in rates["steady_rowwise"]) + "; dense "
              + ", ".join(f"{v:,.0f}" for v in rates["steady_dense"])
              + f"; median row-wise / dense {medians['steady_rowwise'] / medians['steady_dense']:.2f}x")
    print(f"\nload average before {load_before}, after {report['load_average_after']}; "
          f"{os.cpu_count()} CPUs")
    write_report(args.output, report)


if __name__ == "__main__":
    main()
