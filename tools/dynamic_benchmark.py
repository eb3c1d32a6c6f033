"""Dynamic tables against hashed tables of the same rows (issue 18, docs/benchmarks.md).

Writes Criteo-shaped CTR data (numeric fields I1..I3, categorical C1..C4) whose
C1 ids follow a Zipf law scattered over an id space of 10^8 or more values, with
a label that depends on each C1 id (so that giving ids their own rows matters),
then trains the same MLP with C1 hashed into R rows and with a dynamic table of
R - 1 rows plus its default row, each in a fresh process, and reports test AUC,
steady examples/s (from the first to the last progress line), peak RSS, the
export's size and its load time in a fresh process.

    python tools/dynamic_benchmark.py --rows 400000 --id_space 100000000 --table_rows 32768

--micro_steps times the id -> row path against hashing; --stream_ids pushes 10^8 or
more distinct ids through the mapping alone (no model) and reports ids/s, admissions,
evictions and resident memory along the stream:

    python tools/dynamic_benchmark.py --stream_ids 100000000 --id_space 1000000000 \
        --table_rows 1048576 --batch_size 65536 --admit_after 1
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = """
train_input_path: "{train}"
eval_input_path: "{test}"
data_config {{
  format: CSV
  csv_header: true
  input_fields {{ name: "label" type: FLOAT }}
  input_fields {{ name: "I1" type: FLOAT }}
  input_fields {{ name: "I2" type: FLOAT }}
  input_fields {{ name: "I3" type: FLOAT }}
  input_fields {{ name: "C1" type: STRING }}
  input_fields {{ name: "C2" type: STRING }}
  input_fields {{ name: "C3" type: STRING }}
  input_fields {{ name: "C4" type: STRING }}
  label_fields: "label"
  batch_size: {batch}
  shuffle_buffer_size: 10000
}}
feature_configs {{ raw_feature {{ name: "I1" }} }}
feature_configs {{ raw_feature {{ name: "I2" }} }}
feature_configs {{ raw_feature {{ name: "I3" }} }}
feature_configs {{ id_feature {{ name: "C1" embedding_dim: 16 {c1} }} }}
feature_configs {{ id_feature {{ name: "C2" embedding_dim: 16 hash_bucket_size: 2000 }} }}
feature_configs {{ id_feature {{ name: "C3" embedding_dim: 16 hash_bucket_size: 200 }} }}
feature_configs {{ id_feature {{ name: "C4" embedding_dim: 16 hash_bucket_size: 20 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["I1", "I2", "I3", "C1", "C2", "C3", "C4"] }}
  backbone {{ blocks {{ name: "deep" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [64, 32] }} }} }}
  tasks {{ name: "ctr" label: "label" loss: BINARY_CROSS_ENTROPY metrics: [AUC] }}
}}
train_config {{
  optimizer {{ adam {{ learning_rate: 0.002 }} }}
  num_epochs: {epochs}
  save_checkpoints_steps: 100000
  log_step_count_steps: 50
  save_summary_steps: 100000
  seed: 1
}}
eval_config {{ eval_interval_steps: 0 }}
export_config {{ exporter: FINAL keep: 1 }}
"""


def write_data(path, rows, id_space, seed, exponent=1.15):
    """Criteo-shaped CSV: C1 = Zipf ranks scattered over [0, id_space) by an odd multiplier."""
    rng = np.random.default_rng(seed)
    rank = rng.zipf(exponent, rows).astype(np.uint64) % np.uint64(id_space)
    c1 = (rank * np.uint64(2654435761) + np.uint64(12345)) % np.uint64(id_space)
    c2 = np.minimum(rng.zipf(1.3, rows), 2000)
    c3 = rng.integers(0, 200, rows)
    c4 = rng.integers(0, 20, rows)
    numeric = rng.normal(size=(rows, 3))

    def effect(ids, salt, scale):  # a fixed pseudo-random effect of each id
        u = ((ids.astype(np.uint64) * np.uint64(0x9E3779B1) + np.uint64(salt)) % np.uint64(2 ** 32))
        return (u.astype(np.float64) / 2 ** 32 - 0.5) * 2 * scale

    logit = (effect(c1, 1, 2.5) + effect(c2, 2, 1.0) + effect(c3, 3, 0.5) + effect(c4, 4, 0.3)
             + 0.5 * numeric[:, 0] - 0.3 * numeric[:, 1] - 0.5)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    with open(path, "w", encoding="utf-8") as f:
        f.write("label,I1,I2,I3,C1,C2,C3,C4\n")
        for i in range(rows):
            f.write(f"{label[i]},{numeric[i, 0]:.3f},{numeric[i, 1]:.3f},{numeric[i, 2]:.3f},"
                    f"u{c1[i]},b{c2[i]},c{c3[i]},d{c4[i]}\n")
    return len(np.unique(c1))


def run(name, c1, args, data, work):
    """Trains one variant in a fresh process; returns its numbers."""
    model_dir = os.path.join(work, name)
    config = os.path.join(work, f"{name}.config")
    with open(config, "w", encoding="utf-8") as f:
        f.write(CONFIG.format(train=data["train"], test=data["test"], batch=args.batch_size,
                              epochs=args.epochs, c1=c1))
    command = [sys.executable, "-m", "easyrank.train", "--pipeline_config_path", config,
               "--model_dir", model_dir]
    env = dict(os.environ, PYTHONPATH=ROOT)
    log = os.path.join(work, f"{name}.log")
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        process = subprocess.Popen(command, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)  # this process's own peak RSS
    wall = time.perf_counter() - start
    with open(log, encoding="utf-8") as f:
        text = f.read()
    if status != 0:
        raise SystemExit(f"{name} failed; its log: {log}\n{text[-3000:]}")
    rss = usage.ru_maxrss / 2 ** 20  # KiB -> GiB
    # Steady rate: between the first and the last progress line (after warm-up, before
    # evaluation and export), from their timestamps.
    steps = [(_seconds(t), int(n)) for t, n in re.findall(
        r"^I\d{4} (\d\d:\d\d:\d\d\.\d+) .*\] step (\d+): loss", text, re.M)]
    rate = ((steps[-1][1] - steps[0][1]) * args.batch_size / (steps[-1][0] - steps[0][0])
            if len(steps) > 1 else 0.0)
    with open(os.path.join(model_dir, "eval_result.json"), encoding="utf-8") as f:
        result = json.load(f)
    export = os.path.join(model_dir, "export")
    size = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(export) for n in names)
    versions = [v for v in os.listdir(export) if v.isdigit()]
    load = subprocess.run([sys.executable, "-c", _LOAD, os.path.join(export, versions[0])],
                          capture_output=True, text=True, check=True)
    return {"variant": name, "auc": round(result["ctr/auc"], 4), "steady_examples_per_s":
            round(rate), "wall_s": round(wall, 1), "peak_rss_gib": round(rss, 2),
            "export_mib": round(size / 2 ** 20, 1),
            "export_load_s": round(float(load.stdout.split()[-1]), 2)}


# Loads an export in a fresh process that does not import easyrank; prints the seconds.
_LOAD = ("import sys, time; import tensorflow as tf; t = time.perf_counter(); "
         "tf.saved_model.load(sys.argv[1]); print(time.perf_counter() - t)")


def _seconds(clock):
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def micro(args):
    """ms per step of the id -> row path alone: dynamic update + look-up vs hashing."""
    import tensorflow as tf

    from easyrank.features.dynamic_table import DynamicRows

    rng = np.random.default_rng(3)
    batches = [tf.constant([f"u{i}" for i in
                            (rng.zipf(1.15, args.batch_size).astype(np.uint64) * np.uint64(2654435761))
                            % np.uint64(args.id_space)]) for _ in range(args.micro_steps)]
    rows = DynamicRows(args.table_rows - 1, args.admit_after, "LFU")
    table = tf.Variable(tf.zeros([args.table_rows, 16]))
    rows.attach(table, lambda shape, seed: tf.random.stateless_uniform(shape, seed, -0.05, 0.05))

    @tf.function
    def dynamic(ids):
        rows.update(ids)
        return tf.gather(table, rows.lookup(ids))

    @tf.function
    def hashed(ids):
        return tf.gather(table, tf.strings.to_hash_bucket_fast(ids, args.table_rows))

    result = {}
    for name, fn in (("hashed", hashed), ("dynamic_lfu", dynamic)):
        fn(batches[0])
        start = time.perf_counter()
        for ids in batches:
            fn(ids)
        result[name + "_ms_per_step"] = round(1000 * (time.perf_counter() - start) / len(batches), 3)
    result["evictions"] = int(rows.evicted.numpy())
    print(json.dumps(result))


def stream(args):
    """The mapping's training path alone (update + look-up, no model) over a stream of at least
    --stream_ids distinct ids: each batch holds Zipf ids over --id_space and never-seen ids
    (fresh_fraction of it), made in the graph. Prints ids/s, admissions, evictions and the
    process's resident memory along the way: it stays flat, set by the capacity. Returns the
    report (a dict)."""
    import tensorflow as tf

    from easyrank.features.dynamic_table import DynamicRows

    capacity = args.table_rows - 1
    rows = DynamicRows(capacity, args.admit_after, args.eviction, decay_every=args.decay_every)
    table = tf.Variable(tf.zeros([args.table_rows, 16]))
    rows.attach(table, lambda shape, seed: tf.random.stateless_uniform(shape, seed, -0.05, 0.05))
    fresh = max(1, int(args.batch_size * args.fresh_fraction))
    hot = args.batch_size - fresh
    n, a = float(args.id_space), 1.0 - args.zipf

    @tf.function(input_signature=[tf.TensorSpec([], tf.int64)])
    def step(i):
        # Zipf ranks by the inverse CDF (as tools/generate_criteo.zipf_ranks), scattered over
        # the id space; then `fresh` ids never used before, above the id space.
        u = tf.random.stateless_uniform([hot], seed=tf.stack([i, tf.constant(7, tf.int64)]),
                                        dtype=tf.float64)
        x = (((n + 1.0) ** a - 1.0) * u + 1.0) ** (1.0 / a)
        rank = tf.minimum(tf.cast(tf.floor(x), tf.int64) - 1, args.id_space - 1)
        ids = tf.concat([(rank * 2654435761 + 12345) % args.id_space,
                         args.id_space + i * fresh + tf.range(fresh, dtype=tf.int64)], 0)
        rows.update(ids)
        return tf.reduce_sum(tf.gather(table, rows.lookup(ids)))

    steps = -(-args.stream_ids // fresh)
    report = {"batch": args.batch_size, "fresh_per_batch": fresh, "steps": steps,
              "capacity": capacity, "admit_after": args.admit_after, "eviction": args.eviction,
              "decay_every": args.decay_every, "id_space": args.id_space, "rss_gib": {}}
    step(tf.constant(0, tf.int64))  # trace
    start = time.perf_counter()
    for i in range(1, steps + 1):
        step(tf.constant(i, tf.int64)).numpy()
        if i % max(1, steps // 10) == 0 or i == steps:
            report["rss_gib"][f"{i * fresh:.2e} fresh ids"] = round(_rss_gib(), 2)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report.update({
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "distinct_ids_at_least": steps * fresh, "ids_pushed": steps * args.batch_size,
        "wall_s": round(wall, 1), "ids_per_s": round(steps * args.batch_size / wall),
        "admitted": int(rows.admitted.numpy()), "evicted": int(rows.evicted.numpy()),
        "occupancy": round(float(rows.stats()["occupancy"].numpy()), 4),
        "peak_rss_gib": round(usage.ru_maxrss / 2 ** 20, 2)})
    _, mapped = rows.mapping.export()
    mapped = mapped.numpy()
    # No two ids share a row, and every row is mapped or free.
    report["one_row_per_id"] = bool(len(np.unique(mapped)) == len(mapped) == capacity - int(
        rows.num_free.numpy()) == int(rows.admitted.numpy()) - int(rows.evicted.numpy()))
    return report


def _rss_gib():
    """This process's resident memory now (Linux /proc), in GiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2 ** 20
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--test_rows", type=int, default=100_000)
    parser.add_argument("--id_space", type=int, default=10 ** 8)
    parser.add_argument("--table_rows", type=int, default=32768)
    parser.add_argument("--admit_after", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--variants", default="hashed,dynamic_lfu,dynamic_lru")
    parser.add_argument("--output", default="")
    parser.add_argument("--micro_steps", type=int, default=0,
                        help="> 0: time only the id -> row path for this many batches")
    parser.add_argument("--stream_ids", type=int, default=0,
                        help="> 0: push this many never-seen ids (plus Zipf ids) through the "
                             "mapping alone, no model (with --batch_size, --fresh_fraction)")
    parser.add_argument("--fresh_fraction", type=float, default=0.5)
    parser.add_argument("--zipf", type=float, default=1.15)
    parser.add_argument("--eviction", default="LFU", choices=["LFU", "LRU"])
    parser.add_argument("--decay_every", type=int, default=0)
    args = parser.parse_args()
    if args.stream_ids:
        print(json.dumps(stream(args)))
        return
    if args.micro_steps:
        micro(args)
        return
    work = tempfile.mkdtemp(prefix="dynamic_benchmark_")
    data = {"train": os.path.join(work, "train.csv"), "test": os.path.join(work, "test.csv")}
    distinct = write_data(data["train"], args.rows, args.id_space, seed=1)
    write_data(data["test"], args.test_rows, args.id_space, seed=2)
    print(f"C1: {distinct} distinct ids in {args.rows} training rows, id space {args.id_space}")
    capacity = args.table_rows - 1
    c1 = {"hashed": f"hash_bucket_size: {args.table_rows}",
          "dynamic_lfu": f"dynamic {{ capacity: {capacity} admit_after: {args.admit_after} eviction: LFU }}",
          "dynamic_lru": f"dynamic {{ capacity: {capacity} admit_after: {args.admit_after} eviction: LRU }}"}
    results = []
    for name in args.variants.split(","):
        results.append(run(name, c1[name], args, data, work))
        print(json.dumps(results[-1]), flush=True)
    report = {"rows": args.rows, "id_space": args.id_space, "distinct_c1": distinct,
              "table_rows": args.table_rows, "results": results}
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
