"""tools/export_embedding_table.py and the frozen pretrained table of movielens_ranking.config.

The sample's first_genre table starts from samples/data/movielens/genre_embedding.txt and is not
trained: after training, its vocabulary rows still equal the file, and the tool writes the same
rows back from the checkpoint. (Its export is checked by tests/e2e/samples_export_test.py.)
"""

import os
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import export_embedding_table  # noqa: E402

TABLE = os.path.join(ROOT, "samples", "data", "movielens", "genre_embedding.txt")


@pytest.fixture(scope="module")
def trained(sample_full):
    """model_dir of movielens_ranking's full run (tests/conftest.py): trained and exported once."""
    return sample_full("movielens_ranking").model_dir


def test_frozen_pretrained_table_keeps_the_file_rows_and_the_tool_writes_them_back(trained, tmp_path):
    pretrained = np.loadtxt(TABLE, dtype=np.float32)
    assert pretrained.shape == (20, 8)
    checkpoint = tf.train.latest_checkpoint(trained)
    table = export_embedding_table.read_table(checkpoint, "first_genre")
    assert table.shape == (21, 8)  # 20 vocabulary rows and one out-of-vocabulary row
    np.testing.assert_array_equal(table[:20], pretrained)
    out = str(tmp_path / "genre.txt")
    export_embedding_table.main(["--model_dir", trained, "--table", "first_genre", "--rows", "20",
                                 "--output", out])
    np.testing.assert_allclose(np.loadtxt(out, dtype=np.float32), pretrained, rtol=1e-5)


def test_unknown_table_names_the_tables(trained):
    with pytest.raises(SystemExit, match="no embedding table 'genre'.*first_genre"):
        export_embedding_table.read_table(tf.train.latest_checkpoint(trained), "genre")

