"""tools/generate_criteo.py: deterministic Criteo-shaped data whose label depends on the ids."""

import os
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import generate_criteo  # noqa: E402

from easyrank.evaluation import metrics  # noqa: E402


def test_csv_is_deterministic_by_seed_and_criteo_shaped(tmp_path):
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        generate_criteo.main(["--rows", "3000", "--max_vocab", "100000", "--seed", str(seed),
                              "--output", str(tmp_path / name)])
    a, b, c = ((tmp_path / f"{n}.csv").read_bytes() for n in "abc")
    assert a == b and a != c
    lines = a.decode().splitlines()
    assert lines[0].split(",") == ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    data = np.array([line.split(",") for line in lines[1:]], dtype=np.int64)
    assert data.shape == (3000, 40)
    vocab = generate_criteo.vocabulary_sizes(100000)
    assert vocab[0] == 10 and vocab[-1] == 100000 and vocab == sorted(vocab)
    assert np.all(data[:, 14:] >= 0) and np.all(data[:, 14:] < np.array(vocab))
    assert 0.15 < data[:, 0].mean() < 0.45
    # Zipf: the most frequent id of the largest field is far above uniform (1 / 100000).
    assert np.unique(data[:, -1], return_counts=True)[1].max() / 3000 > 0.02


def test_label_depends_on_the_ids(tmp_path):
    (label, numeric, ids), = generate_criteo.chunks(20000, 1000, seed=3, chunk_rows=20000)
    effects = sum(generate_criteo.id_effect(k, ids[:, k], 1000) for k in range(26))
    assert metrics.auc(label, effects) > 0.7  # knowing the ids' effects predicts the label


def test_tfrecord_holds_the_same_rows(tmp_path):
    generate_criteo.main(["--rows", "50", "--max_vocab", "1000", "--format", "csv,tfrecord",
                          "--output", str(tmp_path / "x")])
    rows = (tmp_path / "x.csv").read_text().splitlines()[1:]
    records = list(tf.data.TFRecordDataset(str(tmp_path / "x.tfrecord")))
    assert len(records) == 50
    example = tf.train.Example.FromString(records[7].numpy())
    values = [example.features.feature[n].int64_list.value[0] for n in generate_criteo.COLUMNS]
    assert values == [int(v) for v in rows[7].split(",")]
