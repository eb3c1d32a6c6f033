"""Training speed, memory and AUC against embedding table size and embedding optimizer.

Generates Criteo-shaped data once (tools/generate_criteo.py), then trains
samples/configs/criteo_mlp.config once per point, each in a fresh process
(tools/benchmark_easyrank.py, one epoch, no export). A point "S:OPT" gives the
three largest id fields (C24..C26) tables of S rows and caps every other table at
--cap rows (its vocabulary if smaller); "cap:OPT" caps all tables. OPT is one of

    default          no embedding_optimizer: the row-wise form of Adam (lazy Adam)
    dense            embedding_optimizer { use_dense_optimizer: true } (tf_keras Adam on tables)
    lazy_adam, adagrad, rowwise_adagrad, ftrl, sgd   embedding_optimizer { OPT { ... } }

    .venv/bin/python tools/embedding_benchmark.py --rows 500000 --max_vocab 10000000 \
        --points cap:default,1e7:default,1e7:dense,1e7:rowwise_adagrad --output /tmp/emb.json

Prints a Markdown table (for docs/benchmarks.md): steady and whole-run training
examples/s, their ratio to the first point, peak resident memory, the bytes of
tables plus slots, and the test AUC.

--quality compares each embedding optimizer with its own dense counterpart, like for
like: dense weights keep Adam 0.001; the "row-wise" arm updates the tables with OPT
(settings above), the "dense" arm with tf_keras' optimizer of the same rule and
settings (benchmark_easyrank.py --dense_table_optimizer: Adam for lazy_adam, Adagrad
for adagrad and rowwise_adagrad, Ftrl, SGD). One run per arm and seed at
--quality_size-row tables; prints the test AUC of each arm (mean and sample std over
the seeds) and the paired difference row-wise - dense:

    .venv/bin/python tools/embedding_benchmark.py --rows 100000 --test_rows 20000 \
        --max_vocab 1000000 --quality lazy_adam,adagrad,rowwise_adagrad,ftrl,sgd \
        --seeds 1,2,3 --output /tmp/q.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile

import benchmark  # tools/benchmark.py: runs one benchmark process
import generate_criteo

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIG = os.path.join(ROOT, "samples", "configs", "criteo_mlp.config")
LARGEST = 3
# Settings per embedding optimizer (dense weights keep Adam 0.001): the best of a small
# sweep on 100k generated rows (docs/benchmarks.md). Adagrad needs a small initial
# accumulator: a table row's gradient is ~1e-3, so 0.1 would dominate its denominator.
EMBEDDING_OPTIMIZERS = {
    "lazy_adam": {"lazy_adam": {"learning_rate": 0.002}},
    "adagrad": {"adagrad": {"learning_rate": 0.05, "initial_accumulator_value": 1e-4}},
    "rowwise_adagrad": {"rowwise_adagrad": {"learning_rate": 0.05,
                                            "initial_accumulator_value": 1e-4}},
    "ftrl": {"ftrl": {"learning_rate": 0.5}},
    "sgd": {"sgd": {"learning_rate": 5.0}},
}
SLOTS = {"default": 2, "dense": 2, "lazy_adam": 2, "adagrad": 1, "ftrl": 2, "sgd": 0,
         "rowwise_adagrad": None}


def table_rows(max_vocab, size, cap):
    """Rows of the tables of C1..C26 at a point (size None: all capped)."""
    vocab = generate_criteo.vocabulary_sizes(max_vocab)
    rows = [min(v, cap) for v in vocab]
    if size:
        for k in range(len(rows) - LARGEST, len(rows)):
            rows[k] = size
    return rows


def point_edits(config, rows, dim, optimizer, train_path):
    """--edit_config_json of one point."""
    edits = {"train_input_path": [train_path], "train_config.num_epochs": 1}
    for i, wrapper in enumerate(config.feature_configs):
        if wrapper.WhichOneof("feature") == "id_feature":
            k = generate_criteo.CATEGORICAL.index(wrapper.id_feature.name)
            edits[f"feature_configs[{i}].id_feature.hash_bucket_size"] = rows[k]
            edits[f"feature_configs[{i}].id_feature.embedding_dim"] = dim
    if optimizer == "dense":
        edits["train_config.embedding_optimizer.use_dense_optimizer"] = True
    elif optimizer != "default":
        (kind, settings), = EMBEDDING_OPTIMIZERS[optimizer].items()
        for key, value in settings.items():
            edits[f"train_config.embedding_optimizer.{kind}.{key}"] = value
    return edits


def quality_markdown(results):
    """Per comparison and arm: mean and sample std of the test AUC over seeds, and the
    paired difference to the dense arm."""
    lines = ["| embedding optimizer | tables updated by | test AUC per seed | mean | std | "
             "minus dense: mean | std |", "|---|---|---|---:|---:|---:|---:|"]
    for label in dict.fromkeys(r["label"] for r in results):
        runs = [r for r in results if r["label"] == label]
        dense = {r["seed"]: r["test_auc"] for r in runs if r["arm"] == "dense"}
        for arm in dict.fromkeys(r["arm"] for r in runs):
            aucs = {r["seed"]: r["test_auc"] for r in runs if r["arm"] == arm}
            diffs = [aucs[s] - dense[s] for s in aucs if s in dense]
            spread = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0  # noqa: E731
            diff = (f"{statistics.mean(diffs):+.4f} | {spread(diffs):.4f}" if arm != "dense"
                    else "| ")
            lines.append(f"| {label} | {arm} | "
                         f"{', '.join(f'{a:.4f}' for a in aucs.values())} | "
                         f"{statistics.mean(aucs.values()):.4f} | "
                         f"{spread(list(aucs.values())):.4f} | {diff} |")
    return "\n".join(lines)


def state_mib(rows, dim, optimizer):
    """MiB of the tables plus their optimizer slots."""
    slots = SLOTS[optimizer]
    per_row = dim * 4 * (1 + slots) if slots is not None else dim * 4 + 4
    return sum(rows) * per_row / 2 ** 20


def parse_point(text):
    size, optimizer = text.split(":")
    if optimizer not in SLOTS:
        raise SystemExit(f"[embedding] unknown optimizer {optimizer!r}; one of {sorted(SLOTS)}")
    return (None if size == "cap" else int(float(size))), optimizer


def markdown(results):
    base = results[0]
    lines = ["| largest 3 tables | optimizer | dim | train ex/s (steady) | x first | "
             "train ex/s (whole run) | x first | peak RSS MiB | tables+slots MiB | test AUC |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        size = f"{r['size']:.0e} rows" if r["size"] else f"capped ({r['cap']:,})"
        lines.append(
            f"| {size} | {r['optimizer']} | {r['dim']} | {r['train_examples_per_s']:,.0f} | "
            f"{r['train_examples_per_s'] / base['train_examples_per_s']:.2f} | "
            f"{r['train_examples_per_s_overall']:,.0f} | "
            f"{r['train_examples_per_s_overall'] / base['train_examples_per_s_overall']:.2f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['state_mib']:,.0f} | {r['test_auc']:.4f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000, help="Training rows (one epoch).")
    parser.add_argument("--test_rows", type=int, default=100_000)
    parser.add_argument("--max_vocab", type=int, default=10_000_000)
    parser.add_argument("--points", default="cap:default,1e7:default")
    parser.add_argument("--cap", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--large_dim", type=int, default=4,
                        help="Embedding dim of points with tables of 10^8 rows or more.")
    parser.add_argument("--warmup_steps", type=int, default=50)
    parser.add_argument("--quality", default="",
                        help="Comma-separated embedding optimizers (lazy_adam, adagrad, "
                             "rowwise_adagrad, ftrl, sgd): compare their row-wise and dense "
                             "updates of the tables instead of --points.")
    parser.add_argument("--seeds", default="1,2,3", help="train_config.seed of --quality runs.")
    parser.add_argument("--quality_size", type=float, default=1e5,
                        help="Rows of the 3 largest tables in --quality runs.")
    parser.add_argument("--work_dir", default="")
    parser.add_argument("--output", default="")
    args = parser.parse_args()

    sys.path.insert(0, ROOT)
    from easyrank.config import load_config  # noqa: PLC0415 (keep --help free of TensorFlow)

    config = load_config(CONFIG)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="easyrank_embedding_")
    os.makedirs(work_dir, exist_ok=True)
    train_path = os.path.join(work_dir, f"train_{args.rows}_{args.max_vocab}.csv")
    test_path = os.path.join(work_dir, f"test_{args.test_rows}_{args.max_vocab}.csv")
    for path, rows, seed in [(train_path, args.rows, 1), (test_path, args.test_rows, 2)]:
        if not os.path.exists(path):
            generate_criteo.write_csv(path, generate_criteo.chunks(rows, args.max_vocab, seed))

    report = {"rows": args.rows, "max_vocab": args.max_vocab, "cpu_count": os.cpu_count(),
              "load_average_start": benchmark.load_average(), "points": []}
    if args.quality:
        run_quality(args, config, work_dir, train_path, test_path, report)
        return
    for text in [p for p in args.points.split(",") if p]:
        size, optimizer = parse_point(text)
        dim = args.large_dim if size and size >= 10 ** 8 else args.dim
        rows = table_rows(args.max_vocab, size, args.cap)
        edits = point_edits(config, rows, dim, optimizer, train_path)
        command = [sys.executable, os.path.join(HERE, "benchmark_easyrank.py"), "--config", CONFIG,
                   "--test_input_path", test_path, "--work_dir", os.path.join(work_dir, "run"),
                   "--skip_export", "--skip_input", "--warmup_steps", str(args.warmup_steps),
                   "--edit_config_json", json.dumps(edits)]
        result = benchmark.run(command, f"embedding point {text}")
        result.update(size=size, optimizer=optimizer, dim=dim, cap=args.cap,
                      state_mib=state_mib(rows, dim, optimizer))
        report["points"].append(result)
    report["load_average_end"] = benchmark.load_average()
    print(markdown(report["points"]))
    benchmark.write_report(args.output, report)


def run_quality(args, config, work_dir, train_path, test_path, report):
    size = int(args.quality_size)
    rows = table_rows(args.max_vocab, size, args.cap)
    for kind in [k for k in args.quality.split(",") if k]:
        parse_point(f"1:{kind}")
        (settings,) = EMBEDDING_OPTIMIZERS[kind].values()
        label = f"{kind} ({', '.join(f'{k} {v:g}' for k, v in settings.items())})"
        for seed in [int(s) for s in args.seeds.split(",") if s]:
            for arm in ("dense", "row-wise"):
                edits = dict(point_edits(config, rows, args.dim, kind, train_path),
                             **{"train_config.seed": seed})
                command = [sys.executable, os.path.join(HERE, "benchmark_easyrank.py"),
                           "--config", CONFIG, "--test_input_path", test_path,
                           "--work_dir", os.path.join(work_dir, "run"), "--skip_export",
                           "--skip_input", "--warmup_steps", str(args.warmup_steps),
                           "--edit_config_json", json.dumps(edits)]
                if arm == "dense":
                    command.append("--dense_table_optimizer")
                result = benchmark.run(command, f"quality {kind} {arm} seed {seed}")
                result.update(kind=kind, label=label, arm=arm, seed=seed, size=size)
                report["points"].append(result)
    report["load_average_end"] = benchmark.load_average()
    print(quality_markdown(report["points"]))
    benchmark.write_report(args.output, report)


if __name__ == "__main__":
    main()
