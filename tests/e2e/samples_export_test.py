"""Every sample config exports a model that passes check_export (issue 8's deployment path).

Each sample trains a few steps on the tiny slice of its data set, exports at the end of
training, and `checks.check` loads the export in a fresh process that never imports
easyrank, calls every signature, replays the warmup records with TF Serving's rules and compares
the scores with `easyrank.predict` and with the model in memory.
"""

import glob
import os
import sys

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.serving import checks
from easyrank.training import loop

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Retrieval samples export three models with their own checks: tests/e2e/retrieval_test.py.
SAMPLES = sorted(p for p in glob.glob(os.path.join(ROOT, "samples", "configs", "*.config"))
                 if "_retrieval" not in os.path.basename(p))
TINY = {"census": os.path.join(ROOT, "tests", "data", "census_tiny.csv"),
        "movielens": os.path.join(ROOT, "tests", "data", "movielens_tiny.csv"),
        # python tools/generate_criteo.py --rows 200 --max_vocab 1000 --seed 3 --output tests/data/criteo_tiny
        "criteo": os.path.join(ROOT, "tests", "data", "criteo_tiny.csv")}
sys.path.insert(0, os.path.join(ROOT, "tools"))

import convert_to_parquet  # noqa: E402


def test_every_sample_has_tiny_data():
    assert SAMPLES and all(os.path.basename(p).split("_")[0] in TINY for p in SAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: os.path.basename(p)[:-len(".config")])
def test_sample_exports_a_model_that_passes_check_export(path, tmp_path):
    tiny = TINY[os.path.basename(path).split("_")[0]]
    if path.endswith("_parquet.config"):  # the tiny slice converted as the config's README says
        tiny, = convert_to_parquet.convert(config_lib.load_config(path), [tiny], str(tmp_path / "parquet"))
    config = config_lib.load_config(path, {
        "train_input_path": [tiny], "eval_input_path": [tiny], "data_config.batch_size": 64,
        "train_config.num_steps": 3, "train_config.save_checkpoints_steps": 3,
        "eval_config.eval_interval_steps": 0})
    loop.train_and_evaluate(config, str(tmp_path / "model"))
    problems, lines = checks.check(str(tmp_path / "model" / "export"), num_rows=16)
    assert problems == [], "\n".join(lines)
    assert any("vs model in memory" in line for line in lines)
