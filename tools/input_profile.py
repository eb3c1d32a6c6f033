"""Rows/s of each stage of easyrank's CSV training input, to see where input time goes.

Stages, each timed on its own over the config's first training file (best of --repeats):
reading (gzip lines with row ids, shuffle, batch; no parsing), the fast-path regex check of
a batch, tf.io.decode_csv of a batch, the whole parse of a batch, the full one-epoch pipeline
(build_dataset) and, with data_config.cache, the later epochs served from memory.

    .venv/bin/python tools/input_profile.py --config samples/configs/census_dcn_mix.config
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import easyrank  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import tensorflow as tf  # noqa: E402

from easyrank.config import load_config  # noqa: E402
from easyrank.data import build_dataset, csv_reader  # noqa: E402


def best_rate(rows, run, repeats):
    """Highest rows/s of `repeats` calls of run()."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = max(best, rows / (time.perf_counter() - start))
    return best


def drain(dataset):
    for _ in dataset:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = load_config(args.config)
    data = config.data_config
    path = config.train_input_path[0]
    reader = csv_reader.CsvReader(data, [path])
    read = reader.read_file(tf.constant(path)).shuffle(data.shuffle_buffer_size, seed=1).batch(data.batch_size)
    batches = list(reader.read_file(tf.constant(path)).batch(data.batch_size))
    rows = sum(int(lines.shape[0]) for _, lines in batches)

    def per_batch(fn):
        fn = tf.function(fn)
        fn(*batches[0])  # trace outside the timing
        return lambda: [fn(*b) for b in batches]

    stages = [
        ("read: lines, row ids, shuffle, batch (no parsing)", lambda: drain(read)),
        ("parse: fast-path regex check", per_batch(
            lambda ids, lines: tf.reduce_all(tf.strings.regex_full_match(lines, reader._line_pattern)))),
        ("parse: decode_csv", per_batch(lambda ids, lines: reader._decode_plain(lines))),
        ("parse: whole (check, then fast or checking path)", per_batch(reader.parse_batch)),
        ("one epoch: build_dataset", lambda: drain(build_dataset(data, [path], training=True, seed=1))),
    ]
    cached = type(data)()
    cached.CopyFrom(data)
    cached.cache = True
    in_memory = build_dataset(cached, [path], training=True, num_epochs=args.repeats + 1, seed=1)
    iterator = iter(in_memory)
    full_batches = rows // data.batch_size
    for _ in range(full_batches):  # the first epoch parses; time the later ones
        next(iterator)
    stages = [(name, rows, run) for name, run in stages]
    stages.append(("later epochs from memory (data_config.cache)", full_batches * data.batch_size,
                   lambda: [next(iterator) for _ in range(full_batches)]))

    print(f"{path}: {rows:,} rows, batch {data.batch_size}, best of {args.repeats}, "
          f"{os.cpu_count()} CPUs\n")
    print("| stage | rows/s |\n|---|---:|")
    for name, count, run in stages:
        print(f"| {name} | {best_rate(count, run, args.repeats):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
