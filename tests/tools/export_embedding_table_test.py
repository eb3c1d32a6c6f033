"""tools/export_embedding_table.py and the frozen pretrained table of movielens_ranking.config.

The sample's first_genre table starts from samples/data/movielens/genre_embedding.txt and is not
trained: after training, its vocabulary rows still equal the file, and the tool writes the same
rows back from the checkpoint. The export passes check_export with the C++ loader.
"""

import os
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

from easyrank.serving import checks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import export_embedding_table  # noqa: E402

TABLE = os.path.join(ROOT, "samples", "data", "movielens", "genre_embedding.txt")


@pytest.fixture(scope="module")
def trained(sample_slice):
    """model_dir of movielens_ranking's slice run (tests/conftest.py): trained and exported once."""
    return sample_slice("movielens_ranking").model_dir


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


@pytest.mark.slow
def test_ranking_sample_export_passes_check_export_with_the_cc_loader(trained):
    problems, lines = checks.check(os.path.join(trained, "export"), num_rows=16, cc_check=True)
    assert problems == [], "\n".join(lines)
    assert any("LoadSavedModel + Session::Run" in line for line in lines), lines
