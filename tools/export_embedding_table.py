"""Writes an embedding table of a trained model as a pretrained table file.

The output is the text format of `embedding { pretrained_file }` (feature.proto): one row per
line, the row's numbers separated by spaces, row i on line i. Feed it to another model whose
feature has the same ids in the same order (the same vocab_list / vocab_file, or num_buckets)
and the same embedding_dim, optionally frozen with `trainable: false`.

    python tools/export_embedding_table.py --model_dir /tmp/genre_source --table first_genre \\
        --rows 20 --output samples/data/movielens/genre_embedding.txt

--table is the table's name: the feature's embedding_name, or its name when it has none.
--rows keeps the first rows only (e.g. the vocabulary without the out-of-vocabulary rows).
Reads the latest checkpoint of --model_dir (or the checkpoint file given as --checkpoint).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import easyrank  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _escape(name):
    """A name as tf.train.Checkpoint spells it in variable keys ("." -> "..", "/" -> ".S")."""
    return name.replace(".", "..").replace("/", ".S")


def read_table(checkpoint, table):
    """The [rows, dim] values of embedding table `table` in `checkpoint`."""
    key = f"model/feature_groups/embedding.S{_escape(table)}/.ATTRIBUTES/VARIABLE_VALUE"
    names = [name for name, _ in tf.train.list_variables(checkpoint)]
    if key not in names:
        prefix = "model/feature_groups/embedding.S"
        tables = sorted(n[len(prefix):].split("/")[0] for n in names if n.startswith(prefix))
        raise SystemExit(f"no embedding table {table!r} in {checkpoint}; tables: {', '.join(tables) or 'none'}")
    return tf.train.load_checkpoint(checkpoint).get_tensor(key)


def write_table(values, path, rows=0):
    values = np.asarray(values, np.float32)[:rows or None]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in values:
            f.write(" ".join(f"{v:.6g}" for v in row) + "\n")
    return values.shape


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", help="model_dir of a training run (its latest checkpoint)")
    parser.add_argument("--checkpoint", help="a checkpoint path instead of --model_dir")
    parser.add_argument("--table", required=True, help="embedding_name of the table (or the feature name)")
    parser.add_argument("--rows", type=int, default=0, help="keep the first ROWS rows (0: all)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    checkpoint = args.checkpoint or (args.model_dir and tf.train.latest_checkpoint(args.model_dir))
    if not checkpoint:
        raise SystemExit(f"no checkpoint in {args.model_dir!r}; give --model_dir of a trained model or --checkpoint")
    shape = write_table(read_table(checkpoint, args.table), args.output, args.rows)
    print(f"wrote {shape[0]} rows of {shape[1]} values from {checkpoint} to {args.output}")


if __name__ == "__main__":
    main()
