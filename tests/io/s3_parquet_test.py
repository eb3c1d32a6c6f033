"""Parquet inputs on s3://, read through pyarrow from a local S3-compatible server (moto's
server mode on 127.0.0.1, started and stopped by the test; no network).

Stock TensorFlow 2.21 has no s3:// file system, so the file layer lists and reads these
paths with pyarrow, and a model_dir there stops the run before training.
"""

import easyrank  # noqa: F401

# isort: split
import os
import socket

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from google.protobuf import text_format

from easyrank.data import build_dataset, list_files
from easyrank.errors import ConfigError, DataError
from easyrank.io import files, preflight
from easyrank.protos import data_pb2, pipeline_pb2

moto_server = pytest.importorskip("moto.server", reason="moto[server] (the test extra) is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(ROOT, "tests", "configs", "base.config")
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 and the AWS settings pyarrow reads; stopped at the end."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    settings = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        fs = pafs.S3FileSystem(endpoint_override=f"http://127.0.0.1:{port}", access_key="test",
                               secret_key="test", region="us-east-1", scheme="http", allow_bucket_creation=True,
                               connect_timeout=5, request_timeout=10)
        fs.create_dir("bucket")
        yield fs
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def census_table():
    """The census_tiny columns of base.config as a table."""
    import pyarrow.csv as pacsv
    table = pacsv.read_csv(TINY)
    return table.select(["age", "education", "sex", "income_gt_50k"]).cast(pa.schema([
        ("age", pa.float64()), ("education", pa.string()), ("sex", pa.string()), ("income_gt_50k", pa.float64())]))


def put(fs, key, table):
    with fs.open_output_stream(key) as out:
        pq.write_table(table, out)


def config_on_s3(tmp_path):
    text = open(BASE, encoding="utf-8").read()
    config = text_format.Parse(text, pipeline_pb2.PipelineConfig())
    del config.train_input_path[:], config.eval_input_path[:]
    config.train_input_path.append("s3://bucket/census/day=*/part-*.parquet")
    config.eval_input_path.append("s3://bucket/census/day=2/part-0.parquet")
    config.data_config.format = data_pb2.DataConfig.PARQUET
    config.model_dir = str(tmp_path / "model")
    return config


def test_parquet_from_s3(s3, tmp_path):
    table = census_table()
    put(s3, "bucket/census/day=1/part-0.parquet", table.slice(0, 120))
    put(s3, "bucket/census/day=2/part-0.parquet", table.slice(120))
    put(s3, "bucket/other/day=1/part-0.parquet", table.slice(0, 5))  # not under the pattern
    config = config_on_s3(tmp_path)

    found = list_files(config.train_input_path)
    assert found == ["s3://bucket/census/day=1/part-0.parquet", "s3://bucket/census/day=2/part-0.parquet"]
    size, mtime = files.identity(found[0])
    assert size == s3.get_file_info("bucket/census/day=1/part-0.parquet").size and mtime > 0

    dataset = build_dataset(config.data_config, config.train_input_path, training=False, batch_size=64)
    ages = np.concatenate([f["age"].numpy().reshape(-1) for f, _ in dataset])
    np.testing.assert_allclose(ages, table.column("age").to_numpy(), rtol=1e-6)

    from easyrank.training import loop
    results = loop.train_and_evaluate(config, config.model_dir)
    assert results["global_step"] == 7  # 200 rows of the two files in batches of 32
    assert results["num_examples"] == 80


def test_missing_bucket_or_prefix_is_a_data_error(s3):
    with pytest.raises(DataError, match="s3://bucket/nothing/"):
        list_files(["s3://bucket/nothing/*.parquet"])
    with pytest.raises(DataError, match="s3://no-such-bucket/"):
        list_files(["s3://no-such-bucket/x/*.parquet"])


def test_model_dir_on_s3_stops_before_training(s3):
    with pytest.raises(ConfigError) as raised:
        preflight.check_tensorflow_path("s3://bucket/model", "model_dir", write=True)
    message = str(raised.value)
    assert message.startswith("model_dir: 's3://bucket/model' is on s3://, a file system TensorFlow")
    assert "only Parquet inputs can live" in message and "--import_modules" in message and "gs://" in message
    with pytest.raises(ConfigError, match="train_input_path: 's3://bucket/a.csv' is on s3://, which "
                                          "TensorFlow .* cannot read"):
        preflight.check_readable("s3://bucket/a.csv", "train_input_path", parquet=False)
    preflight.check_readable("s3://bucket/a.parquet", "train_input_path", parquet=True)
