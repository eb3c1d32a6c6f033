"""Criteo-shaped CTR data for benchmarks and tests: label, I1..I13, C1..C26.

- I1..I13: non-negative integer counts (log-normal), some heavy-tailed.
- C1..C26: integer ids drawn from a Zipf law (exponent --zipf) over vocabularies
  spaced geometrically from 10 (C1) to --max_vocab (C26). Rank r (0 = most frequent)
  is mapped to id (r * prime + field offset) mod vocabulary, so that ids are not
  ordered by frequency.
- label: Bernoulli(sigmoid(bias + sum of per-id effects + numeric effects + one
  pairwise cross)), where each (field, id) has its own effect drawn from a hash:
  a model must learn the ids' embeddings to predict it (an id-blind model stays
  near the base rate's AUC of 0.5 on the id part).

Deterministic by --seed: the same arguments write the same bytes. Rows are
generated in chunks, so any --rows fits in memory.

    python tools/generate_criteo.py --rows 1000000 --max_vocab 10000000 \
        --output /tmp/criteo/train --format csv,tfrecord --seed 1
    # -> /tmp/criteo/train.csv and /tmp/criteo/train.tfrecord

samples/configs/criteo_mlp.config reads the CSV (train and eval from two seeds).
"""

import argparse
import os

import numpy as np

NUM_NUMERIC, NUM_CATEGORICAL = 13, 26
NUMERIC = [f"I{i + 1}" for i in range(NUM_NUMERIC)]
CATEGORICAL = [f"C{i + 1}" for i in range(NUM_CATEGORICAL)]
COLUMNS = ["label"] + NUMERIC + CATEGORICAL
_PRIME = np.uint64(2_654_435_761)
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def vocabulary_sizes(max_vocab):
    """Vocabulary of C1..C26: geometric from 10 to max_vocab (at least 10 each)."""
    max_vocab = max(int(max_vocab), 10)
    return [int(round(10 * (max_vocab / 10) ** (k / (NUM_CATEGORICAL - 1))))
            for k in range(NUM_CATEGORICAL)]


def zipf_ranks(rng, size, vocabulary, exponent):
    """`size` ranks in [0, vocabulary) with P(r) ~ (r + 1)^-exponent (continuous inverse CDF)."""
    u = rng.random(size)
    n = float(vocabulary)
    if abs(exponent - 1.0) < 1e-9:
        x = np.exp(u * np.log(n + 1.0))
    else:
        a = 1.0 - exponent
        x = ((np.power(n + 1.0, a) - 1.0) * u + 1.0) ** (1.0 / a)
    return np.minimum(np.floor(x).astype(np.int64) - 1, vocabulary - 1)


def _mix(values):
    """splitmix64 finaliser: a well-mixed uint64 hash of uint64 values."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9) & _MASK
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB) & _MASK
        return z ^ (z >> np.uint64(31))


def id_effect(field, ids, seed):
    """Per-(field, id) effect, roughly N(0, 1), from a hash (no table to store)."""
    with np.errstate(over="ignore"):
        key = ids.astype(np.uint64) * np.uint64(64) + np.uint64(field) + np.uint64(seed) * _PRIME
    h = _mix(key)
    u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53
    u2 = ((_mix(h) >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)


def generate_chunk(rng, rows, vocabularies, exponent, effect_seed):
    """(label [rows], numeric [rows, 13] int64, ids [rows, 26] int64)."""
    numeric = np.floor(rng.lognormal(mean=1.0, sigma=1.2, size=(rows, NUM_NUMERIC))).astype(np.int64)
    ids = np.empty((rows, NUM_CATEGORICAL), dtype=np.int64)
    for k, vocabulary in enumerate(vocabularies):
        ranks = zipf_ranks(rng, rows, vocabulary, exponent)
        ids[:, k] = (ranks * int(_PRIME % np.uint64(vocabulary)) + 7 * k + 1) % vocabulary
    logit = np.full(rows, -1.8)
    for k in range(NUM_CATEGORICAL):
        logit += 0.45 * id_effect(k, ids[:, k], effect_seed)
    logit += 0.5 * id_effect(40, ids[:, 3] * 1_000_003 + ids[:, 7], effect_seed)  # a cross
    logs = np.log1p(numeric)
    logit += 0.25 * (logs[:, 0] - 1.2) - 0.2 * (logs[:, 4] - 1.2) + 0.15 * (logs[:, 9] - 1.2)
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return label, numeric, ids


def chunks(rows, max_vocab, seed, exponent=1.1, chunk_rows=100_000):
    """Yields (label, numeric, ids) chunks totalling `rows` rows. The id effects depend on
    max_vocab only (not on seed), so train and eval data drawn with two seeds agree."""
    vocabularies = vocabulary_sizes(max_vocab)
    rng = np.random.default_rng(seed)
    done = 0
    while done < rows:
        n = min(chunk_rows, rows - done)
        yield generate_chunk(rng, n, vocabularies, exponent, effect_seed=max_vocab)
        done += n


def write_csv(path, data):
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(COLUMNS) + "\n")
        for label, numeric, ids in data:
            table = np.concatenate([label[:, None], numeric, ids], axis=1).astype(str)
            f.write("\n".join(",".join(row) for row in table) + "\n")


def write_tfrecord(path, data):
    import tensorflow as tf  # noqa: PLC0415 (CSV needs no TensorFlow)

    def int_feature(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))

    with tf.io.TFRecordWriter(path) as writer:
        for label, numeric, ids in data:
            for i in range(len(label)):
                feature = {"label": int_feature(label[i])}
                feature.update({name: int_feature(numeric[i, j]) for j, name in enumerate(NUMERIC)})
                feature.update({name: int_feature(ids[i, j]) for j, name in enumerate(CATEGORICAL)})
                writer.write(tf.train.Example(
                    features=tf.train.Features(feature=feature)).SerializeToString())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--output", required=True, help="Path prefix; .csv / .tfrecord are appended.")
    parser.add_argument("--format", default="csv", help="csv, tfrecord or csv,tfrecord.")
    parser.add_argument("--max_vocab", type=int, default=1_000_000,
                        help="Vocabulary of the largest categorical field (C26).")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of the ids.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    formats = [f for f in args.format.split(",") if f]
    if args.rows < 0 or not formats or set(formats) - {"csv", "tfrecord"}:
        parser.error("--rows must be >= 0 and --format csv and/or tfrecord")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    for fmt in formats:
        data = chunks(args.rows, args.max_vocab, args.seed, args.zipf)
        path = f"{args.output}.{fmt}"
        (write_csv if fmt == "csv" else write_tfrecord)(path, data)
        print(path)


if __name__ == "__main__":
    main()
