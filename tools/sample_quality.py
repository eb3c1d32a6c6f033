"""Quality of sample configs over seeds and variants, on named data splits (issue 24).

Each run is one config (a name in samples/configs or a path), one variant (a name and the
--edit_config_json edits it applies; default: the config as shipped) and one seed. It trains
by `python -m easyrank.train` (export off, train_config.seed set, eval_input_path = the first
split, so the run's own final evaluation is that split's result) and evaluates the final
checkpoint on every other split by `python -m easyrank.evaluate --eval_input_path
--output_path`. A split is a name, <train_input_path's folder>/<name>.csv.gz (census: eval,
test; MovieLens: valid, test), or a path. A run or split whose result file
(<out_dir>/<run>/split_<split>.json) exists is not repeated, so the tool resumes. Results go
to <out_dir>/results.json (metrics per split and the parameter count, read from the
checkpoint); one Markdown table per split is printed.

    python tools/sample_quality.py --out_dir /tmp/sq --configs movielens_poso,movielens_poso_baseline \
        --seeds 1,2,3 --splits valid,test --metrics like/auc,like/gauc,like/auc@is_new_user=1
    python tools/sample_quality.py --out_dir /tmp/sq --configs census_masknet --seeds 2024 \
        --splits test --variant shipped \
        --variant 'serial={"model_config.backbone.blocks[0].mask_net.parallel": false}'
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "samples", "configs")
TRAIN_PATH = re.compile(r'^\s*train_input_path:\s*"([^"]+)"', re.MULTILINE)
SHIPPED = "shipped"


def run_module(args):
    """Runs `python -m <args>` in the repository with PYTHONPATH = the repository; exits on failure."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m"] + args, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit("failed (%d): %s\n%s" % (proc.returncode, " ".join(args), proc.stderr[-3000:]))


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def config_path(name):
    """A sample's name (census_mlp) or a path to a .config."""
    if os.sep in name or name.endswith(".config"):
        return name
    return os.path.join(CONFIGS, name + ".config")


def split_path(config_file, split):
    """The data file of `split`: a path as is, else <train_input_path's folder>/<split>.csv.gz."""
    if os.sep in split or "." in split:
        return split
    with open(config_file, encoding="utf-8") as f:
        match = TRAIN_PATH.search(f.read())
    if not match:
        raise SystemExit("%s: no train_input_path to find split %r beside; pass a path" % (config_file, split))
    path = os.path.join(os.path.dirname(match.group(1)), split + ".csv.gz")
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def parse_variant(text):
    """'name' (the config as shipped) or 'name={"field.path": value, ...}' -> (name, edits)."""
    name, _, edits = text.partition("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise argparse.ArgumentTypeError("variant name %r: letters, digits, _ and - only" % name)
    try:
        edits = json.loads(edits) if edits else {}
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError("variant %s: edits are not JSON: %s" % (name, e)) from None
    if not isinstance(edits, dict):
        raise argparse.ArgumentTypeError("variant %s: edits must be a JSON object" % name)
    return name, edits


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out_dir", required=True)
    p.add_argument("--configs", required=True, help="comma-separated sample names or config paths")
    p.add_argument("--seeds", default="2024", help="comma-separated train_config.seed values")
    p.add_argument("--splits", default="test", help="comma-separated split names or paths; the first "
                   "is the training run's own evaluation")
    p.add_argument("--variant", action="append", type=parse_variant, default=[],
                   help="NAME or NAME=JSON edits (repeatable; default: the config as shipped)")
    p.add_argument("--metrics", default="", help="comma-separated result keys for the tables "
                   "(default: every <task>/auc and <task>/gauc)")
    args = p.parse_args(argv)
    args.configs = [c for c in args.configs.split(",") if c]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.splits = [s for s in args.splits.split(",") if s]
    args.variant = args.variant or [(SHIPPED, {})]
    args.metrics = [m for m in args.metrics.split(",") if m]
    names = [v[0] for v in args.variant]
    if len(set(names)) != len(names):
        p.error("variant names repeat: %s" % ", ".join(names))
    return args


def run_name(config, variant, seed):
    """The run's folder name: <config>[.<variant>].<seed>."""
    base = os.path.basename(config)
    base = base[:-len(".config")] if base.endswith(".config") else base
    return "%s.%d" % (base if variant == SHIPPED else base + "." + variant, seed)


def result_file(model_dir, split):
    """Where a split's metrics are kept (never train's own eval_result.json, which it copies)."""
    return os.path.join(model_dir, "split_%s.json" % re.sub(r"\W", "_", split))


def param_counts(model_dir):
    """(all, non-embedding) model parameters of the checkpoint in model_dir (no optimizer slots)."""
    import easyrank  # noqa: F401  (before tensorflow)

    # isort: split
    import tensorflow as tf
    total = embedding = 0
    for name, shape in tf.train.list_variables(model_dir):
        if not name.startswith("model/") or name.startswith("model/loss_tracker/"):
            continue
        size = math.prod(shape)
        total += size
        if name.startswith("model/feature_groups/embedding"):
            embedding += size
    return total, total - embedding


def measure(config, variant, edits, seed, splits, out_dir):
    """{"splits": {split: metrics}, "params": [all, non-embedding]} of one run (trains once).

    Untrained, the run trains with eval_input_path = the first split still missing, and its own
    final evaluation (eval_result.json, written at the end of training only) is that split's.
    """
    config_file = config_path(config)
    model_dir = os.path.join(out_dir, run_name(config, variant, seed))
    results = {}
    for split in splits:
        path = split_path(config_file, split)
        output = result_file(model_dir, split)
        if os.path.exists(output):
            pass
        elif not os.path.exists(os.path.join(model_dir, "eval_result.json")):
            run_edits = dict(edits, **{"train_config.seed": seed, "export_config.exporter": "NONE",
                                       "eval_input_path": [path]})
            run_module(["easyrank.train", "--pipeline_config_path", config_file, "--model_dir", model_dir,
                        "--edit_config_json", json.dumps(run_edits)])
            shutil.copyfile(os.path.join(model_dir, "eval_result.json"), output)
        else:
            run_module(["easyrank.evaluate", "--pipeline_config_path", config_file, "--model_dir", model_dir,
                        "--edit_config_json", json.dumps(edits), "--eval_input_path", path,
                        "--output_path", output])
        results[split] = read_json(output)
    return {"config": config, "variant": variant, "edits": edits, "seed": seed, "splits": results,
            "params": list(param_counts(model_dir))}


def default_metrics(results):
    """Every <task>/auc and <task>/gauc key (no slices) of the first result, sorted."""
    return sorted(k for k in results[0] if re.fullmatch(r"[^/@]+/g?auc", k))


def cells(values):
    """[per-seed values, mean] as Markdown cells; the mean carries the seeds' sd when there are several."""
    text = "%.4f" % statistics.mean(values)
    if len(values) > 1:
        text += " (sd %.4f)" % statistics.stdev(values)
    return [", ".join("%.4f" % v for v in values), text]


def table(split, rows, metrics, seeds):
    """Markdown lines: one row per (label, [results per seed], params or None)."""
    seeds = ", ".join(str(s) for s in seeds)
    head = ["config (%s)" % split]
    for metric in metrics:
        head += ["%s (seeds %s)" % (metric, seeds), "mean"]
    head.append("parameters (non-embedding)")
    lines = ["| %s |" % " | ".join(head), "|---" + "|---|---:" * len(metrics) + "|---:|"]
    for label, results, params in rows:
        row = [label]
        for metric in metrics:
            row += cells([r[metric] for r in results])
        row.append(f"{params[0]:,} ({params[1]:,})" if params else "")
        lines.append("| %s |" % " | ".join(row))
    return lines


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    summary = os.path.join(args.out_dir, "results.json")
    done = read_json(summary) if os.path.exists(summary) else {}
    groups = []
    for config in args.configs:
        for variant, edits in args.variant:
            runs = []
            for seed in args.seeds:
                key = run_name(config, variant, seed)
                done[key] = measure(config, variant, edits, seed, args.splits, args.out_dir)
                with open(summary, "w", encoding="utf-8") as f:
                    json.dump(done, f, indent=1, sort_keys=True)
                runs.append(done[key])
                print("done %s" % key, file=sys.stderr, flush=True)
            label = os.path.basename(config) + ("" if variant == SHIPPED else " " + variant)
            groups.append((label, runs))
    for split in args.splits:
        results = [[r["splits"][split] for r in runs] for _, runs in groups]
        metrics = args.metrics or default_metrics(results[0])
        rows = [(label, res, runs[0]["params"]) for (label, runs), res in zip(groups, results)]
        print("\n".join([""] + table(split, rows, metrics, args.seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
