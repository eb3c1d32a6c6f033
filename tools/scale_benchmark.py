"""How easyrank's training time and memory grow with data size and embedding table size.

Two sweeps over one config, each point a fresh process of tools/benchmark_easyrank.py
(one epoch, no export):

- rows: the config's first training file tiled (its data rows repeated in order) to
  N rows, for each N of --rows; reports train examples/s (steady state), fit seconds,
  input-pipeline rows/s and peak resident memory.
- table size: one id feature (--table_feature) given hash_bucket_size S, for each S of
  --table_sizes, on the untiled data; the other features are unchanged.

    .venv/bin/python tools/scale_benchmark.py --config samples/configs/census_dcn_mix.config \
        --rows 10000,100000,1000000 --table_sizes 10000,100000,1000000,10000000 \
        --output /tmp/scale.json

Prints two Markdown tables (for docs/benchmarks.md) and writes the JSON report.
"""

import argparse
import gzip
import json
import os
import sys
import tempfile

import benchmark  # tools/benchmark.py: runs one benchmark process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def open_text(path):
    return gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")


def tile(source, target, rows, header):
    """Writes `rows` data rows of `source` (repeated in order) to `target`; keeps the header."""
    with open_text(source) as f:
        lines = f.readlines()
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    with open(target, "w", encoding="utf-8") as out:
        out.writelines(head)
        written = 0
        while written < rows:
            chunk = body[:rows - written]
            out.writelines(chunk)
            written += len(chunk)


def run_point(config, test_input_path, work_dir, edits, train_input_path=None, warmup_steps=20):
    """One benchmark_easyrank.py process; returns its JSON result."""
    command = [sys.executable, os.path.join(HERE, "benchmark_easyrank.py"), "--config", config,
               "--test_input_path", test_input_path, "--work_dir", work_dir, "--skip_export",
               "--warmup_steps", str(warmup_steps), "--edit_config_json", json.dumps(edits)]
    if train_input_path:
        command += ["--train_input_path", train_input_path]
    return benchmark.run(command, "scale point")


def feature_index(config, name):
    """Index of the id_feature `name` in config.feature_configs."""
    for i, wrapper in enumerate(config.feature_configs):
        if wrapper.WhichOneof("feature") == "id_feature" and wrapper.id_feature.name == name:
            return i
    raise SystemExit(f"[scale] no id_feature named {name!r} in the config")


def markdown(rows, first_label, first_key):
    lines = [f"| {first_label} | train ex/s (steady) | fit s | input rows/s | peak RSS MiB | parameters |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r[first_key]:,} | {r['train_examples_per_s']:,.0f} | {r['train_seconds']:.1f} | "
                     f"{r.get('input_rows_per_s_all_epochs', float('nan')):,.0f} | "
                     f"{r['peak_rss_mib']:,.0f} | {r['params']:,} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--test_input_path", default="samples/data/census/test.csv.gz")
    parser.add_argument("--rows", default="10000,100000,1000000")
    parser.add_argument("--table_sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--table_feature", default="det_ind_code",
                        help="The id_feature whose hash_bucket_size the table sweep sets.")
    parser.add_argument("--work_dir", default="")
    parser.add_argument("--output", default="")
    args = parser.parse_args()

    sys.path.insert(0, ROOT)
    from easyrank.config import load_config  # noqa: PLC0415 (keep --help free of TensorFlow)

    config = load_config(args.config)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="easyrank_scale_")
    os.makedirs(work_dir, exist_ok=True)
    one_epoch = {"train_config.num_epochs": 1}
    report = {"config": args.config, "cpu_count": os.cpu_count(), "rows": [], "table_sizes": []}

    for n in [int(x) for x in args.rows.split(",") if x]:
        path = os.path.join(work_dir, f"train_{n}.csv")
        tile(config.train_input_path[0], path, n, config.data_config.csv_header)
        steps = n // config.data_config.batch_size
        result = run_point(args.config, args.test_input_path, os.path.join(work_dir, f"rows_{n}"),
                           one_epoch, train_input_path=path, warmup_steps=min(20, max(1, steps // 4)))
        result["rows"] = n
        report["rows"].append(result)
        os.remove(path)

    index = feature_index(config, args.table_feature)
    for size in [int(float(x)) for x in args.table_sizes.split(",") if x]:
        edits = dict(one_epoch, **{f"feature_configs[{index}].id_feature.hash_bucket_size": size})
        result = run_point(args.config, args.test_input_path, os.path.join(work_dir, f"table_{size}"), edits)
        result["table_size"] = size
        report["table_sizes"].append(result)

    print(markdown(report["rows"], "training rows (1 epoch)", "rows"))
    print()
    print(markdown(report["table_sizes"], f"{args.table_feature} table rows", "table_size"))
    benchmark.write_report(args.output, report)


if __name__ == "__main__":
    main()
