"""Training and serving benchmark of a config, optionally against DeepCTR's DCNMix.

Each run is a fresh process (tools/benchmark_easyrank.py, and with
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


if __name__ == "__main__":
    main()
