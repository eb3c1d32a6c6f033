"""python -m easyrank.stats: exact statistics of small inputs (CSV and Parquet), the written
config (comments kept, trains without the markers), the CLI's exit codes."""

import collections
import os
import subprocess
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from easyrank.config import load_config
from easyrank.errors import ConfigError
from easyrank.statistics import write_filled_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """# A config that leaves statistics to the data.
train_input_path: "{train}"
data_config {{
  format: {format}
  input_fields {{ name: "price" type: FLOAT }}
  input_fields {{ name: "clicks" type: INT64 }}
  input_fields {{ name: "city" type: STRING }}
  input_fields {{ name: "tags" type: STRING{is_list} }}
  input_fields {{ name: "label" type: FLOAT }}
  label_fields: "label"
  batch_size: 4
}}
# price: log1p then z-score, 4 quantile buckets
{price}
feature_configs {{
  # clicks: min-max
  raw_feature {{
    name: "clicks"
    normalizer {{ compute_from_data: MIN_MAX }}
  }}
}}
feature_configs {{ id_feature {{ name: "city" vocab_from_data {{ min_count: 2 }} embedding_dim: 2 }} }}
feature_configs {{ tag_feature {{ name: "tags" vocab_from_data {{ max_size: 2 }} embedding_dim: 2 }} }}
model_config {{
  feature_groups {{ name: "all" feature_names: ["price", "clicks", "city", "tags"] }}
  backbone {{ blocks {{ name: "mlp" inputs {{ feature_group: "all" }} mlp {{ hidden_units: [4] }} }} }}
  tasks {{ name: "ctr" label: "label" loss: BINARY_CROSS_ENTROPY }}
}}
train_config {{ num_epochs: 1 }}
"""

PRICE_FEATURE = ('feature_configs { raw_feature { name: "price" normalizer { log1p: true compute_from_data: '
                 'Z_SCORE } boundaries_from_quantiles: 4 embedding_dim: 2 } }')
RNG = np.random.default_rng(0)
N = 203
PRICE = RNG.lognormal(size=N).astype(np.float32)
CLICKS = RNG.integers(0, 50, size=N)
CITY = RNG.choice(["paris", "rome", "oslo", "lima"], size=N, p=[0.5, 0.3, 0.195, 0.005])
TAGS = [RNG.choice(["a", "b", "c", "d"], size=RNG.integers(0, 4), p=[0.4, 0.3, 0.2, 0.1]).tolist()
        for _ in range(N)]


def write_input(tmp_path, fmt):
    if fmt == "CSV":
        path = tmp_path / "train.csv"
        lines = ["price,clicks,city,tags,label"] + [
            f"{p!r},{c},{city},{'|'.join(t)},{i % 2}" for i, (p, c, city, t) in enumerate(zip(
                PRICE.tolist(), CLICKS.tolist(), CITY, TAGS))]
        path.write_text("\n".join(lines) + "\n")
    else:
        path = tmp_path / "train.parquet"
        pq.write_table(pa.table({"price": pa.array(PRICE, pa.float64()), "clicks": CLICKS,
                                 "city": CITY.tolist(), "tags": pa.array(TAGS, pa.list_(pa.string())),
                                 "label": [i % 2 for i in range(N)]}), str(path), row_group_size=50)
    config = tmp_path / "in.config"
    is_list = " is_list: true" if fmt == "PARQUET" else ""
    config.write_text(CONFIG.format(train=path, format=fmt, price=PRICE_FEATURE, is_list=is_list))
    return str(config)


@pytest.mark.parametrize("fmt", ["CSV", "PARQUET"])
def test_statistics_are_exact_and_written_into_the_config(tmp_path, fmt):
    source = write_input(tmp_path, fmt)
    out = str(tmp_path / "out" / "filled.config")
    summary = write_filled_config(source, out)
    assert f"{N} training rows" in summary
    config = load_config(out)  # trains: nothing left unfilled
    price, clicks = config.feature_configs[0].raw_feature, config.feature_configs[1].raw_feature
    logs = np.log1p(PRICE.astype(np.float32)).astype(np.float64)
    np.testing.assert_allclose([price.normalizer.mean, price.normalizer.std], [logs.mean(), logs.std()], rtol=1e-6)
    assert price.normalizer.log1p and not price.normalizer.compute_from_data
    quantiles = np.quantile(np.log1p(PRICE), [0.25, 0.5, 0.75], method="inverted_cdf")
    want = (quantiles - np.float32(price.normalizer.mean)) / np.float32(price.normalizer.std)
    np.testing.assert_allclose(price.boundaries, want, rtol=1e-5)
    assert not price.HasField("boundaries_from_quantiles")
    assert (clicks.normalizer.min, clicks.normalizer.max) == (CLICKS.min(), CLICKS.max())
    city = config.feature_configs[2].id_feature
    counts = collections.Counter(CITY.tolist())
    want_city = sorted([v for v, c in counts.items() if c >= 2], key=lambda v: (-counts[v], v))
    assert open(city.vocab_file).read().splitlines() == want_city
    assert city.vocab_file == str(tmp_path / "out" / "vocab" / "city.txt")
    tag_counts = collections.Counter(t for row in TAGS for t in row)
    tags = config.feature_configs[3].tag_feature
    assert open(tags.vocab_file).read().splitlines() == [v for v, _ in tag_counts.most_common(2)]
    text = open(out).read()
    assert "# A config that leaves statistics to the data." in text  # comments kept
    assert "# price: log1p then z-score, 4 quantile buckets" in text
    one_line = [line for line in text.splitlines() if line.startswith('feature_configs { raw_feature { name: "price"')]
    assert len(one_line) == 1 and "boundaries: " in one_line[0]  # one-line entries stay on one line
    assert 'feature_configs {\n  raw_feature {\n    name: "clicks"\n    normalizer {\n      min: 0.0' in text


def test_training_needs_the_filled_config(tmp_path):
    source = write_input(tmp_path, "CSV")
    with pytest.raises(ConfigError, match=r"boundaries_from_quantiles is left to the data: run `python -m "
                       r"easyrank.stats") as error:
        load_config(source)
    lines = open(source).read().splitlines()
    assert lines[error.value.line - 1].startswith('feature_configs { raw_feature { name: "price"')
    load_config(source, allow_unfilled=True)


def test_cli_writes_the_config_and_reports_bad_data(tmp_path):
    source = write_input(tmp_path, "PARQUET")
    out = tmp_path / "filled.config"
    run = lambda path: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "easyrank.stats", "--pipeline_config_path", path, "--output_config", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    done = run(source)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "203 training rows" in done.stdout and "city: 3 of 4 distinct values" in done.stdout
    assert out.exists() and (tmp_path / "vocab" / "tags.txt").exists()
    bad = tmp_path / "bad.config"
    bad.write_text(open(source).read().replace('name: "clicks" type: INT64', 'name: "clickz" type: INT64')
                   .replace('name: "clicks"\n', 'name: "clicks"\n input_name: "clickz"\n'))
    failed = run(str(bad))
    assert failed.returncode == 3, failed.stderr[-2000:]
    assert "Traceback" not in failed.stderr
    assert "train.parquet: the Parquet schema has no column 'clickz'" in failed.stderr.splitlines()[-1]
