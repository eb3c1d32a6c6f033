"""Peak resident memory of restoring a checkpoint of large embedding tables and their slots.

Creates --tables tables of --rows x --dim (easyrank.embeddings.create.create_table) and
their slots (--optimizer lazy_adam: m and v; rowwise_adagrad: one accumulator per row),
applies one sparse update (tables in training are gathered from and scattered to, so TF
copies a value assigned to them), saves a checkpoint, then restores it once with
tf.train.Checkpoint.restore ("tf") and once with easyrank.training.chunked_restore
("chunked"), each in a fresh process, and prints the rise of resident memory above the
state during the restore (VmHWM reset through /proc/self/clear_refs), its wall time, and
whether every restored value equals the saved one.

    python tools/restore_memory.py --rows 4000000 --dim 16 --tables 3
    python tools/restore_memory.py --rows 100000000 --dim 4 --tables 1 --optimizer rowwise_adagrad
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS)

# isort: split

import numpy as np
import tensorflow as tf
import tf_keras

from easyrank.embeddings.create import create_table
from easyrank.training import chunked_restore, warm_start
from easyrank.training.embedding_optimizers import LazyAdam, RowwiseAdagrad


def memory_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def build(args):
    layer = tf_keras.layers.Layer()
    initializer = tf_keras.initializers.RandomUniform(-0.05, 0.05)
    tables = [create_table(layer, f"table_{i}", args.rows, args.dim, initializer)
              for i in range(args.tables)]
    optimizer = LazyAdam(0.01) if args.optimizer == "lazy_adam" else RowwiseAdagrad(0.01)
    optimizer.build(tables)
    ids = tf.constant([0, 7, args.rows - 1], tf.int64)
    optimizer.apply_gradients([(tf.IndexedSlices(tf.ones([3, args.dim]), ids, [args.rows, args.dim]), t)
                               for t in tables])
    return tf.train.Checkpoint(tables=tables, optimizer=optimizer)


def state(checkpoint):
    return [v for v in tf.train.TrackableView(checkpoint).descendants() if isinstance(v, tf.Variable)]


def child(args):
    tf.random.set_seed(1)
    checkpoint = build(args)
    for variable in state(checkpoint):  # another value: the restore must bring back the saved
        if variable.shape.rank:
            variable.scatter_update(tf.IndexedSlices(tf.zeros([1] + variable.shape[1:]), [0]))
    rss = memory_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM, the peak resident memory
    start = time.time()
    if args.mode == "chunked":
        chunked_restore.restore(checkpoint, args.path).assert_consumed()
    else:
        checkpoint.restore(args.path).assert_consumed()
    seconds = time.time() - start
    peak = memory_mib("VmHWM")
    reader = tf.train.load_checkpoint(args.path)
    equal = all(np.array_equal(reader.get_tensor(key), v.numpy())
                for key, v in warm_start.variable_keys(checkpoint).items())
    print(json.dumps({"mode": args.mode, "rss_before_mib": round(rss), "peak_rise_mib": round(peak - rss),
                      "seconds": round(seconds, 2), "equal": equal}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--tables", type=int, default=3)
    parser.add_argument("--optimizer", choices=["lazy_adam", "rowwise_adagrad"], default="lazy_adam")
    parser.add_argument("--mode", choices=["tf", "chunked"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        return child(args)
    slots = 2 * args.dim if args.optimizer == "lazy_adam" else 1
    state_mib = args.tables * args.rows * (args.dim + slots) * 4 / 2 ** 20
    with tempfile.TemporaryDirectory() as work:
        tf.random.set_seed(1)
        path = build(args).save(os.path.join(work, "ckpt"))
        print(f"tables + slots: {state_mib:,.0f} MiB ({args.tables} x {args.rows:,} x {args.dim}, "
              f"{args.optimizer})")
        for mode in ("tf", "chunked"):
            subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--dim", str(args.dim),
                            "--tables", str(args.tables), "--optimizer", args.optimizer, "--mode", mode,
                            "--path", path], check=True)


if __name__ == "__main__":
    main()
