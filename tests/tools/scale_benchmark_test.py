"""tools/scale_benchmark.py: tiling the training file, finding the swept feature."""

import gzip
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))

import scale_benchmark  # noqa: E402


def test_tile_repeats_data_rows_in_order_and_keeps_one_header(tmp_path):
    source = tmp_path / "train.csv.gz"
    with gzip.open(source, "wt") as f:
        f.write("a,b\n1,x\n2,y\n3,z\n")
    target = tmp_path / "tiled.csv"
    scale_benchmark.tile(str(source), str(target), 7, header=True)
    assert target.read_text().splitlines() == ["a,b", "1,x", "2,y", "3,z", "1,x", "2,y", "3,z", "1,x"]
    scale_benchmark.tile(str(source), str(target), 2, header=False)
    assert target.read_text().splitlines() == ["a,b", "1,x"]


def test_feature_index_names_the_id_feature():
    import easyrank  # noqa: F401
    from easyrank.config import load_config
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    config = load_config(os.path.join(root, "samples", "configs", "census_dcn_mix.config"))
    index = scale_benchmark.feature_index(config, "det_ind_code")
    assert config.feature_configs[index].id_feature.name == "det_ind_code"
    with pytest.raises(SystemExit, match="no id_feature named 'age'"):
        scale_benchmark.feature_index(config, "age")
