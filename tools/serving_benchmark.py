"""Latency and throughput of an exported model through its loaded signatures.

    python tools/serving_benchmark.py EXPORT_DIR [--batch_sizes 1,16,256] \
        [--signatures serving_default,raw_features] [--seconds 5]

Requests are built from the real rows in the export's warmup records
(assets.extra/tf_serving_warmup_requests), repeated up to the batch size, and
sent one at a time, as one client would, to the signature loaded with
tf.saved_model.load (TF Serving runs the same graph in its C++ session, so
this is the model's share of a server's latency, without RPC and batching).
Prints a Markdown table: p50 and p99 latency per request and rows per second.
Needs only tensorflow and tensorflow-serving-api, not easyrank.
"""

import argparse
import os
import platform
import time

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2


def version_dir(path):
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((d for d in os.listdir(path) if d.isdigit()), key=int)
    return os.path.join(path, versions[-1])


def largest_requests(path):
    """{signature: {input key: ndarray}} of the largest warmup Predict request per signature."""
    best = {}
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        if log.WhichOneof("log_type") != "predict_log":
            continue
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        rows = len(next(iter(inputs.values())))
        name = request.model_spec.signature_name or "serving_default"
        if rows > len(next(iter(best.get(name, {"": []}).values()))):
            best[name] = inputs
    return best


def tile(inputs, batch_size):
    rows = len(next(iter(inputs.values())))
    index = np.arange(batch_size) % rows
    return {k: tf.constant(v[index]) for k, v in inputs.items()}


def measure(fn, inputs, seconds, min_calls=20):
    for _ in range(5):
        fn(**inputs)
    times, start = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        begin = time.perf_counter()
        fn(**inputs)
        times.append(time.perf_counter() - begin)
    return np.array(times) * 1000.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--batch_sizes", default="1,16,256")
    parser.add_argument("--signatures", default="serving_default,raw_features")
    parser.add_argument("--seconds", type=float, default=5.0, help="Per batch size and signature.")
    args = parser.parse_args(argv)
    path = version_dir(args.export_dir)
    loaded = tf.saved_model.load(path)
    requests = largest_requests(os.path.join(path, "assets.extra", "tf_serving_warmup_requests"))
    print(f"{path}; TensorFlow {tf.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, intra-op threads "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    print("| signature | batch | p50 ms | p99 ms | rows/s |")
    print("|---|---:|---:|---:|---:|")
    for name in args.signatures.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            times = measure(loaded.signatures[name], tile(requests[name], batch_size), args.seconds)
            p50, p99 = np.percentile(times, [50, 99])
            rate = batch_size * len(times) / (times.sum() / 1000)
            print(f"| {name} | {batch_size} | {p50:.2f} | {p99:.2f} | {rate:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
