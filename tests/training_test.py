"""The training loop's step accounting: epochs end exactly, with any steps_per_execution."""

import gzip
import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.data import count_rows
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")


def test_count_rows_skips_headers():
    config = config_lib.load_config(BASE)
    assert count_rows(config.data_config, config.train_input_path) == 200


@pytest.mark.parametrize("text", [b"h\n1\n2\n", b"h\n1\n2", b"h\r\n1\r\n\r\n2\r\n", b"h\n", b"",
                                  b"h\n" + b"7\n" * 300000])
def test_count_rows_counts_csv_lines_as_tf_data_reads_them(tmp_path, text):
    # count_rows counts bytes (issue 23); TextLineDataset is what training reads.
    import tensorflow as tf
    config = config_lib.load_config(BASE)
    plain, packed = tmp_path / "a.csv", tmp_path / "a.csv.gz"
    plain.write_bytes(text)
    packed.write_bytes(gzip.compress(text[:len(text) // 2]) + gzip.compress(text[len(text) // 2:]))
    for path in (plain, packed):
        lines = tf.data.TextLineDataset(str(path), compression_type="GZIP" if path.suffix == ".gz" else "")
        # Batched: a reduce over single lines costs about 90 us a line (53 CPU-s for 2 x 300,000).
        lines = lines.batch(1 << 16)
        expected = max(int(lines.reduce(tf.constant(0), lambda n, batch: n + tf.size(batch))) - 1, 0)
        assert count_rows(config.data_config, [str(path)]) == expected
        assert count_rows(config.data_config, [str(path), str(path)]) == 2 * expected


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_epochs_train_exactly_the_batches_of_the_data(tmp_path, steps_per_execution):
    config = config_lib.load_config(BASE, edit_config_json={
        "train_config.num_epochs": 3, "train_config.steps_per_execution": steps_per_execution,
        "export_config.exporter": "NONE"})
    results = loop.train_and_evaluate(config, str(tmp_path))
    assert results["global_step"] == -(-3 * 200 // 32)  # 19: epochs are batched back to back
    assert os.path.exists(tmp_path / "ckpt-19.index")
