"""DCN-Mix vs DCN-V2 on Frappe: AUC and cross-network parameters, stacked and parallel.

Replicates the comparison of docs/blocks.md#dcn-mix (Wang et al. 2021) on Frappe, a
public 10-field categorical data set, with easyrank's layers (layers.dcn_mix.DCNMix,
layers.cross.Cross, layers.mlp.MLP):

    python tools/frappe_dcn_benchmark.py --data_dir /work/shared/datasets/frappe \
        --write_docs docs/benchmarks.md

Data: the directory must hold frappe.validation.libfm and frappe.test.libfm
(libFM lines "label f1:1 ... f10:1", label -1/1, one feature per field, in
field order). The files are read where they are, never copied. The two files
(86,582 rows; the usual 70 % train file is not part of the shared copy) are
pooled, shuffled with --seed and split 80/10/10 into train/valid/test.

Model: one embedding table over all feature ids (--embedding_dim per field, so
M = 10 * embedding_dim), then either
  stacked:  x0 -> cross network -> MLP -> logit
  parallel: [cross network(x0), MLP(x0)] -> logit
with the cross network DCN-V2 (full-rank tfrs Cross) or DCN-Mix
(--num_experts experts of rank --projection_dim), 1 to 4 cross layers. Each
model trains --epochs epochs with Adam; the table reports the test AUC at the
epoch of best validation AUC, and the parameters of the cross network alone.
"""

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before tensorflow)

# isort: split

import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf
import tf_keras

from easyrank.evaluation.metrics import auc
from easyrank.layers.cross import Cross
from easyrank.layers.dcn_mix import DCNMix
from easyrank.layers.mlp import MLP

FILES = ("frappe.validation.libfm", "frappe.test.libfm")
SECTION = "## DCN-Mix vs DCN-V2 on Frappe"
NUM_FIELDS = 10


def load_frappe(data_dir):
    """(ids [N, 10] int32, labels [N] float32) from the libFM files in data_dir."""
    missing = [f for f in FILES if not os.path.isfile(os.path.join(data_dir, f))]
    if missing:
        sys.exit(f"error: Frappe not found: {data_dir} lacks {', '.join(missing)}. Pass "
                 "--data_dir pointing at the directory holding the Frappe libFM files "
                 "(e.g. /work/shared/datasets/frappe).")
    ids, labels = [], []
    for name in FILES:
        with open(os.path.join(data_dir, name)) as f:
            for line_number, line in enumerate(f, 1):
                parts = line.split()
                if len(parts) != NUM_FIELDS + 1:
                    sys.exit(f"error: {name}:{line_number}: expected a label and {NUM_FIELDS} "
                             f"features, found {len(parts) - 1} features.")
                labels.append(1.0 if float(parts[0]) > 0 else 0.0)
                ids.append([int(p.split(":")[0]) for p in parts[1:]])
    return np.asarray(ids, np.int32), np.asarray(labels, np.float32)


def split(ids, labels, seed):
    order = np.random.default_rng(seed).permutation(len(labels))
    a, b = int(0.8 * len(order)), int(0.9 * len(order))
    return [(ids[i], labels[i]) for i in (order[:a], order[a:b], order[b:])]


def cross_network(kind, num_layers, args):
    if kind == "dcn_v2":
        return Cross(num_layers=num_layers, name="cross")
    return DCNMix(num_layers=num_layers, num_experts=args.num_experts,
                  projection_dim=args.projection_dim, name="cross")


def build_model(kind, structure, num_layers, vocab_size, args):
    inputs = tf_keras.Input(shape=(NUM_FIELDS,), dtype=tf.int32)
    emb = tf_keras.layers.Embedding(vocab_size, args.embedding_dim)(inputs)
    x0 = tf_keras.layers.Reshape((NUM_FIELDS * args.embedding_dim,))(emb)
    cross = cross_network(kind, num_layers, args)
    deep = MLP(hidden_units=args.hidden_units, name="deep")
    if structure == "stacked":
        x = deep(cross(x0))
    else:
        x = tf_keras.layers.Concatenate()([cross(x0), deep(x0)])
    logits = tf_keras.layers.Dense(1)(x)
    model = tf_keras.Model(inputs, logits)
    model.compile(optimizer=tf_keras.optimizers.Adam(args.learning_rate),
                  loss=tf_keras.losses.BinaryCrossentropy(from_logits=True))
    return model, cross


def run_one(kind, structure, num_layers, data, vocab_size, args):
    tf_keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = data
    model, cross = build_model(kind, structure, num_layers, vocab_size, args)
    best = (-1.0, 0.0, 0)
    start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, verbose=0,
                  shuffle=True)
        valid_auc = auc(y_valid, model.predict(x_valid, batch_size=8192, verbose=0)[:, 0])
        if valid_auc > best[0]:
            test_auc = auc(y_test, model.predict(x_test, batch_size=8192, verbose=0)[:, 0])
            best = (valid_auc, test_auc, epoch)
    return dict(model=kind, structure=structure, num_layers=num_layers, valid_auc=best[0],
                test_auc=best[1], epoch=best[2], cross_params=cross.count_params(),
                total_params=model.count_params(), seconds=time.time() - start)


def table(rows, args, command):
    lines = [
        SECTION, "",
        "Reproduces the DCN-Mix paper's comparison (docs/blocks.md#dcn-mix) with easyrank's "
        "`DCNMix` and `Cross` layers. Command:", "",
        "    " + command, "",
        f"Frappe libFM files pooled and split 80/10/10 (seed {args.seed}); embedding "
        f"{args.embedding_dim} per field (M = {NUM_FIELDS * args.embedding_dim}); MLP "
        f"{args.hidden_units}; Adam lr {args.learning_rate}, batch {args.batch_size}, "
        f"{args.epochs} epochs, test AUC at the epoch of best validation AUC. DCN-V2 = "
        f"full-rank tfrs Cross; DCN-Mix = {args.num_experts} experts of rank "
        f"{args.projection_dim}. `cross params` counts the cross network only.", "",
        "| model | structure | cross layers | valid AUC | test AUC | best epoch "
        "| cross params | total params | train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['structure']} | {r['num_layers']} | "
                     f"{r['valid_auc']:.4f} | {r['test_auc']:.4f} | {r['epoch']} | "
                     f"{r['cross_params']:,} | {r['total_params']:,} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def write_section(path, text):
    """Replaces (or appends) this tool's section of a shared markdown file."""
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if SECTION in old:
        start = old.index(SECTION)
        nxt = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("" if nxt < 0 else "\n" + old[nxt + 1:])
    else:
        new = old.rstrip("\n") + "\n\n" + text
    with open(path, "w") as f:
        f.write(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default="/work/shared/datasets/frappe")
    parser.add_argument("--write_docs", default="", help="markdown file to update")
    parser.add_argument("--models", default="dcn_v2,dcn_mix")
    parser.add_argument("--structures", default="stacked,parallel")
    parser.add_argument("--num_layers", default="1,2,3,4")
    parser.add_argument("--embedding_dim", type=int, default=10)
    parser.add_argument("--num_experts", type=int, default=4)
    parser.add_argument("--projection_dim", type=int, default=6)
    parser.add_argument("--hidden_units", type=lambda s: [int(u) for u in s.split(",")],
                        default=[256, 256])
    parser.add_argument("--learning_rate", type=float, default=0.001)
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    ids, labels = load_frappe(args.data_dir)
    data = split(ids, labels, args.seed)
    rows = []
    for kind in args.models.split(","):
        for structure in args.structures.split(","):
            for num_layers in (int(n) for n in args.num_layers.split(",")):
                rows.append(run_one(kind, structure, num_layers, data, int(ids.max()) + 1, args))
                print(rows[-1], flush=True)
    command = "python tools/frappe_dcn_benchmark.py " + " ".join(argv or sys.argv[1:])
    text = table(rows, args, command)
    print(text)
    if args.write_docs:
        write_section(args.write_docs, text)


if __name__ == "__main__":
    main()
