"""Does the first pass over the files feed training fast enough? Same-run rates, CSV and Parquet.

`ratio`: for a config, in one process and for each format (the config's CSV input and the
same rows converted to Parquet by tools/convert_to_parquet.py): the training input's first
pass drained without a model (rows/s: reading, shuffling, parsing, batching), then the model's
training rate on batches already in memory (examples/s, steady, after warm-up steps), and
their ratio (target: >= 3). With --criteo_rows the input is generated Criteo-shaped data (13
integer counts, 26 categorical columns with Zipf-distributed values of Criteo-like
cardinalities, a label) and the model a DCN-Mix like the census sample's.

`one_epoch`: one training epoch over generated Criteo-shaped rows as `python -m easyrank.train`
feeds it (build_dataset, model.fit): wall time from the start of the pipeline to the end of the
epoch, peak RSS, rows/s. `deepctr_spec` writes the settings of tools/benchmark_deepctr.py for
the same rows and model (DeepCTR's DCNMix; pandas read and LabelEncoder included in its time).

    python tools/input_throughput.py ratio --config samples/configs/census_dcn_mix.config
    python tools/input_throughput.py ratio --criteo_rows 1000000 --work_dir /tmp/easyrank_criteo
    python tools/input_throughput.py one_epoch --criteo_rows 10000000 --format PARQUET \\
        --work_dir /tmp/easyrank_criteo
    python tools/input_throughput.py deepctr_spec --criteo_rows 1000000 --work_dir /tmp/easyrank_criteo \\
        --output /tmp/criteo_spec.json
    PEER_PYTHON tools/benchmark_deepctr.py --spec /tmp/criteo_spec.json --work_dir /tmp/dc --skip_export

Machine noise: rates are only compared within one run (the machine may be shared).
"""

import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import easyrank  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import tf_keras  # noqa: E402
from benchmark_easyrank import StepTimer  # noqa: E402
from convert_to_parquet import convert  # noqa: E402

from easyrank.config import load_config, parse_config, validate  # noqa: E402
from easyrank.data import build_dataset  # noqa: E402
from easyrank.protos import data_pb2  # noqa: E402
from easyrank.training import model_state, strategies  # noqa: E402

# Criteo display-ads shape: 13 counts, 26 hashed categories (cardinalities like the real ones).
CRITEO_CARDINALITIES = [1460, 583, 10_131_227, 2_202_608, 305, 24, 12_517, 633, 3, 93_145, 5_683,
                        8_351_593, 3_194, 27, 14_992, 5_461_306, 10, 5_652, 2_173, 4, 7_046_547, 18,
                        15, 286_181, 105, 142_572]


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- #
# Criteo-shaped data and config
# --------------------------------------------------------------------------- #

def criteo_chunk(rng, rows):
    """One pyarrow table of generated Criteo-shaped rows (about 4% of numbers missing)."""
    columns, logit = {}, np.full(rows, -1.5)
    for i in range(13):
        values = np.floor(rng.lognormal(1.0 + i * 0.1, 1.2, rows)).astype(np.int64)
        logit += 0.15 * (np.log1p(values) - 1.5) * (1 if i % 2 else -1)
        columns[f"I{i + 1}"] = pa.array(values, mask=rng.random(rows) < 0.04)
    for i, cardinality in enumerate(CRITEO_CARDINALITIES):
        ids = (rng.zipf(1.2, rows) - 1) % cardinality
        if i < 4:
            logit += 0.3 * np.where(ids % 7 == 0, 1.0, -0.2)
        columns[f"C{i + 1}"] = pc.cast(pa.array(ids * 2654435761 % (1 << 32)), pa.string())
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({"label": label, **columns})


def generate_criteo(work_dir, rows, chunk=1_000_000, seed=0):
    """work_dir/criteo_<rows>[_<seed>].csv and .parquet (row groups of 100,000); reused when present."""
    os.makedirs(work_dir, exist_ok=True)
    name = f"criteo_{rows}" + (f"_{seed}" if seed else "")
    csv_path = os.path.join(work_dir, f"{name}.csv")
    parquet_path = os.path.join(work_dir, f"{name}.parquet")
    if os.path.exists(parquet_path) and os.path.exists(csv_path):
        return csv_path, parquet_path
    rng = np.random.default_rng(seed)
    first = criteo_chunk(rng, min(chunk, rows))
    with pq.ParquetWriter(parquet_path + ".tmp", first.schema) as parquet, \
            pa_csv.CSVWriter(csv_path + ".tmp", first.schema,
                             write_options=pa_csv.WriteOptions(quoting_style="none", quoting_header="none")) as csv:
        done, table = 0, first
        while True:
            parquet.write_table(table, row_group_size=100_000)
            csv.write_table(table)
            done += table.num_rows
            if done >= rows:
                break
            table = criteo_chunk(rng, min(chunk, rows - done))
    os.replace(parquet_path + ".tmp", parquet_path)
    os.replace(csv_path + ".tmp", csv_path)
    return csv_path, parquet_path


def criteo_config(path, fmt):
    fields = ['input_fields { name: "label" type: FLOAT }']
    fields += [f'input_fields {{ name: "I{i}" type: INT64 default_value: "0" }}' for i in range(1, 14)]
    fields += [f'input_fields {{ name: "C{i}" type: STRING }}' for i in range(1, 27)]
    features = [f'feature_configs {{ raw_feature {{ name: "I{i}" normalizer {{ log1p: true mean: 1.5 std: 1.2 }} }} }}'
                for i in range(1, 14)]
    features += [f'feature_configs {{ id_feature {{ name: "C{i}" hash_bucket_size: {min(c, 100_000)} '
                 'embedding_dim: 16 } }' for i, c in enumerate(CRITEO_CARDINALITIES, 1)]
    names = ", ".join(f'"I{i}"' for i in range(1, 14)) + ", " + ", ".join(f'"C{i}"' for i in range(1, 27))
    text = f"""
train_input_path: "{path}"
data_config {{ format: {fmt} {" ".join(fields)} label_fields: "label" batch_size: 1024 }}
{chr(10).join(features)}
model_config {{
  feature_groups {{ name: "all" feature_names: [{names}] }}
  backbone {{
    blocks {{ name: "cross" inputs {{ feature_group: "all" }}
              dcn_mix {{ num_layers: 2 num_experts: 4 projection_dim: 32 }} }}
    blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [256, 128, 64] }} }}
    blocks {{ name: "combine" inputs {{ block: "cross" }} inputs {{ block: "deep" }} concat {{}} }}
  }}
  tasks {{ name: "ctr" label: "label" loss: BINARY_CROSS_ENTROPY metrics: [AUC] }}
}}
train_config {{ optimizer {{ adam {{ learning_rate: 0.001 }} }} num_epochs: 1 seed: 2024 }}
"""
    config = parse_config(text)
    validate(config)
    return config


# --------------------------------------------------------------------------- #
# Measurements
# --------------------------------------------------------------------------- #

def first_pass_rate(config, max_rows=None):
    """Rates of one shuffled training pass drained without a model: (rows/s, rows per
    CPU-second) over the whole pass (pipeline build, tracing and the first shuffle-buffer fill
    included), then the same after the first batch (steady state), and the rows. CPU seconds
    are the process's, all threads."""
    start, cpu, rows = time.perf_counter(), time.process_time(), 0
    dataset = build_dataset(config.data_config, list(config.train_input_path), training=True, num_epochs=1,
                            seed=config.train_config.seed)
    for _, targets in dataset:
        if not rows:
            first_rows, first, first_cpu = int(next(iter(targets.values())).shape[0]), time.perf_counter(), \
                time.process_time()
        rows += int(next(iter(targets.values())).shape[0])
        if max_rows and rows >= max_rows:
            break
    end, end_cpu = time.perf_counter(), time.process_time()
    return ((rows / (end - start), rows / (end_cpu - cpu)),
            ((rows - first_rows) / (end - first), (rows - first_rows) / (end_cpu - first_cpu)), rows)


def training_rate(config, steps, warmup_steps=20):
    """(examples/s, examples per CPU-second) of training on batches held in memory (input
    cost excluded), after warm-up steps."""
    tf_keras.utils.set_random_seed(config.train_config.seed)
    model, _ = model_state.create_model(config, strategies.build_strategy(config.train_config))
    batches = build_dataset(config.data_config, list(config.train_input_path), training=True, num_epochs=1,
                            seed=config.train_config.seed).take(50).cache().repeat()
    model.fit(batches, epochs=1, steps_per_epoch=warmup_steps, verbose=0)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
    examples = steps * config.data_config.batch_size
    return examples / (time.perf_counter() - start), examples / (time.process_time() - cpu)


def as_parquet(config, work_dir):
    """A copy of `config` reading its training input converted to Parquet in work_dir."""
    paths = convert(config, list(config.train_input_path), os.path.join(work_dir, "parquet"),
                    row_group_size=20_000)
    parquet = type(config)()
    parquet.CopyFrom(config)
    parquet.data_config.format = data_pb2.DataConfig.PARQUET
    del parquet.train_input_path[:]
    parquet.train_input_path.extend(paths)
    return parquet


def ratio(args):
    if args.criteo_rows:
        csv_path, parquet_path = generate_criteo(args.work_dir, args.criteo_rows)
        configs = {"CSV": criteo_config(csv_path, "CSV"), "PARQUET": criteo_config(parquet_path, "PARQUET")}
    else:
        config = load_config(args.config, args.edit_config_json)
        configs = {"CSV": config, "PARQUET": as_parquet(config, args.work_dir)}
    results = {}
    before = training_rate(configs["CSV"], args.train_steps)
    for fmt, config in configs.items():
        whole, steady, rows = first_pass_rate(config, args.max_rows)
        results[fmt] = {"first_pass": whole, "after_first_batch": steady, "rows": rows}
    after = training_rate(configs["CSV"], args.train_steps)
    train, train_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    results["train_examples_per_s"], results["train_examples_per_cpu_s"] = [before[0], after[0]], train_cpu
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; training ex/s {before[0]:,.0f} "
          f"before, {after[0]:,.0f} after the input runs; {train_cpu:,.0f} ex per CPU-second")
    print("| input | pass | rows/s | / training ex/s | rows per CPU-s | / training ex per CPU-s |\n"
          "|---|---|---:|---:|---:|---:|")
    for fmt in configs:
        for name, key in (("whole first pass", "first_pass"), ("after its first batch", "after_first_batch")):
            rate, per_cpu = results[fmt][key]
            print(f"| {fmt} | {name} | {rate:,.0f} | {rate / train:.2f}x | {per_cpu:,.0f} | "
                  f"{per_cpu / train_cpu:.2f}x |")
    print(json.dumps(results))


def one_epoch(args):
    csv_path, parquet_path = generate_criteo(args.work_dir, args.criteo_rows)
    config = criteo_config(parquet_path if args.format == "PARQUET" else csv_path, args.format)
    tf_keras.utils.set_random_seed(config.train_config.seed)
    start = time.perf_counter()
    model, _ = model_state.create_model(config, strategies.build_strategy(config.train_config))
    dataset = build_dataset(config.data_config, list(config.train_input_path), training=True, num_epochs=1,
                            seed=config.train_config.seed)
    timer = StepTimer(20, config.data_config.batch_size)
    history = model.fit(dataset, epochs=1, verbose=0, callbacks=[timer])
    seconds = time.perf_counter() - start
    rows = int(model.optimizer.iterations.numpy()) * config.data_config.batch_size
    result = {"format": args.format, "rows": args.criteo_rows, "wall_seconds": seconds,
              "rows_per_s": args.criteo_rows / seconds, "steady_examples_per_s": timer.rate(),
              "steps": int(model.optimizer.iterations.numpy()), "batched_rows": rows,
              "train_auc": float(history.history["ctr/auc"][-1]) if "ctr/auc" in history.history else None,
              "peak_rss_mib": peak_rss_mib(), "cpus": os.cpu_count()}
    print(json.dumps(result))


def deepctr_spec(args):
    """The spec of tools/benchmark_deepctr.py for the same rows, model and settings."""
    from benchmark import peer_spec
    csv_path, _ = generate_criteo(args.work_dir, args.criteo_rows)
    test_path, _ = generate_criteo(args.work_dir, 100_000, seed=1)
    spec = peer_spec(criteo_config(csv_path, "CSV"), test_path)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=1)
    print(args.output)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("ratio")
    r.add_argument("--config")
    r.add_argument("--edit_config_json")
    r.add_argument("--criteo_rows", type=int, default=0)
    r.add_argument("--work_dir", default="/tmp/easyrank_input_throughput")
    r.add_argument("--train_steps", type=int, default=150)
    r.add_argument("--max_rows", type=int, default=0, help="Stop the first pass after this many rows.")
    o = sub.add_parser("one_epoch")
    o.add_argument("--criteo_rows", type=int, default=10_000_000)
    o.add_argument("--format", choices=["CSV", "PARQUET"], default="PARQUET")
    o.add_argument("--work_dir", default="/tmp/easyrank_input_throughput")
    d = sub.add_parser("deepctr_spec")
    d.add_argument("--criteo_rows", type=int, default=1_000_000)
    d.add_argument("--work_dir", default="/tmp/easyrank_input_throughput")
    d.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.command == "ratio" and not (args.config or args.criteo_rows):
        parser.error("ratio needs --config or --criteo_rows")
    {"ratio": ratio, "one_epoch": one_epoch, "deepctr_spec": deepctr_spec}[args.command](args)


if __name__ == "__main__":
    main()
