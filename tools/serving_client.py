"""Sends rows of a CSV or TFRecord file to a TF Serving model; prints scores and latency.

    python tools/serving_client.py --server localhost:8500 --model_name easyrank \
        --input_path samples/data/census/test.csv.gz [--api regress] [--batch_size 16]
    python tools/serving_client.py --rest --server localhost:8501 --model_name easyrank \
        --input_path rows.csv

gRPC uses tensorflow-serving-api's PredictionService stub: Predict on the
`serving_default` signature (serialized tf.Example) or Regress on `regress`.
REST posts to /v1/models/<name>:predict (base64 tf.Examples) or :regress
(JSON examples). CSV columns are typed with the model's own metadata (the
inputs of its `raw_features` signature); columns the model does not read are
dropped and empty cells are left out, so they take the config's defaults.
Needs only tensorflow and tensorflow-serving-api, not easyrank.
"""

import argparse
import base64
import csv
import gzip
import io
import json
import time
import urllib.request

import numpy as np
import tensorflow as tf


def read_examples(path, dtypes, limit):
    """Up to `limit` tf.Examples from a CSV (typed by `dtypes`) or TFRecord file."""
    if not (path.endswith(".csv") or path.endswith(".csv.gz")):
        compression = "GZIP" if path.endswith(".gz") else ""
        return [tf.train.Example.FromString(r.numpy())
                for r in tf.data.TFRecordDataset(path, compression_type=compression).take(limit)]
    opener = gzip.open if path.endswith(".gz") else open
    examples = []
    with opener(path, "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if len(examples) >= limit:
                break
            example = tf.train.Example()
            for name, dtype in dtypes.items():
                value = row.get(name, "")
                if value == "":
                    continue
                feature = example.features.feature[name]
                if dtype == tf.string:
                    feature.bytes_list.value.append(value.encode())
                elif dtype.is_integer:
                    feature.int64_list.value.append(int(float(value)))
                else:
                    feature.float_list.value.append(float(value))
            examples.append(example)
    return examples


def example_to_json(example):
    """A tf.Example as TF Serving's REST Regress/Classify API takes it."""
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value)
        if kind == "bytes_list":
            values = [v.decode() for v in values]
        elif kind == "float_list":
            values = [float(v) for v in values]  # json writes 1.0, which TF Serving reads as float
        out[name] = values[0] if len(values) == 1 else values
    return out


class GrpcClient:
    def __init__(self, server, model_name, timeout):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc
        self.channel = grpc.insecure_channel(server)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.model_name, self.timeout = model_name, timeout

    def input_dtypes(self, signature="raw_features"):
        from tensorflow_serving.apis import get_model_metadata_pb2
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = self.model_name
        response = self.stub.GetModelMetadata(request, self.timeout)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        sig = signatures.signature_def[signature]
        return {k: tf.dtypes.as_dtype(v.dtype) for k, v in sig.inputs.items()}

    def predict(self, examples, signature):
        from tensorflow_serving.apis import predict_pb2
        request = predict_pb2.PredictRequest()
        request.model_spec.name, request.model_spec.signature_name = self.model_name, signature
        request.inputs["examples"].CopyFrom(
            tf.make_tensor_proto([e.SerializeToString() for e in examples], tf.string))
        response = self.stub.Predict(request, self.timeout)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def regress(self, examples, signature):
        from tensorflow_serving.apis import regression_pb2
        request = regression_pb2.RegressionRequest()
        request.model_spec.name, request.model_spec.signature_name = self.model_name, signature
        request.input.example_list.examples.extend(examples)
        response = self.stub.Regress(request, self.timeout)
        return {"outputs": np.array([r.value for r in response.result.regressions], np.float32)}


class RestClient:
    def __init__(self, server, model_name, timeout):
        base = server if server.startswith("http") else f"http://{server}"
        self.url, self.timeout = f"{base}/v1/models/{model_name}", timeout

    def _call(self, suffix, body=None):
        data = None if body is None else json.dumps(body).encode()
        with urllib.request.urlopen(urllib.request.Request(self.url + suffix, data=data),
                                    timeout=self.timeout) as response:
            return json.loads(response.read())

    def input_dtypes(self, signature="raw_features"):
        metadata = self._call("/metadata")["metadata"]["signature_def"]["signature_def"][signature]
        from tensorflow.core.framework import types_pb2
        return {k: tf.dtypes.as_dtype(types_pb2.DataType.Value(v["dtype"]))
                for k, v in metadata["inputs"].items()}

    def predict(self, examples, signature):
        instances = [{"b64": base64.b64encode(e.SerializeToString()).decode()} for e in examples]
        predictions = self._call(":predict", {"signature_name": signature, "instances": instances})
        predictions = predictions["predictions"]
        if predictions and isinstance(predictions[0], dict):
            return {k: np.array([p[k] for p in predictions], np.float32) for k in predictions[0]}
        return {"predictions": np.array(predictions, np.float32)}

    def regress(self, examples, signature):
        body = {"signature_name": signature, "examples": [example_to_json(e) for e in examples]}
        return {"outputs": np.array(self._call(":regress", body)["results"], np.float32).reshape(-1)}


def run(client, examples, api, signature, batch_size):
    """Sends the examples in batches; returns (outputs of every row, latencies in ms)."""
    call = client.regress if api == "regress" else client.predict
    outputs, latencies = {}, []
    for start in range(0, len(examples), batch_size):
        begin = time.perf_counter()
        result = call(examples[start:start + batch_size], signature)
        latencies.append((time.perf_counter() - begin) * 1000.0)
        for key, value in result.items():
            outputs.setdefault(key, []).append(np.asarray(value))
    return {k: np.concatenate(v) for k, v in outputs.items()}, np.array(latencies)


def summary(outputs, latencies, rows, show=5):
    out = io.StringIO()
    for key in sorted(outputs):
        values = outputs[key]
        out.write(f"{key}: {np.array2string(values[:show], precision=5)}"
                  f"{' ...' if len(values) > show else ''} (mean {values.mean():.5f})\n")
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    out.write(f"{len(latencies)} requests, {rows} rows: latency p50 {p50:.2f} ms, p90 {p90:.2f} ms, "
              f"p99 {p99:.2f} ms; {rows / (latencies.sum() / 1000.0):.0f} rows/s\n")
    return out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="localhost:8500", help="host:port (8500 gRPC, 8501 REST).")
    parser.add_argument("--model_name", default="easyrank")
    parser.add_argument("--input_path", required=True, help="A CSV (header) or TFRecord file.")
    parser.add_argument("--api", choices=["predict", "regress"], default="predict")
    parser.add_argument("--signature", help="Default: serving_default (predict) or regress.")
    parser.add_argument("--rest", action="store_true", help="Use the REST API instead of gRPC.")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--num_rows", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds per request.")
    args = parser.parse_args(argv)
    client = (RestClient if args.rest else GrpcClient)(args.server, args.model_name, args.timeout)
    signature = args.signature or ("regress" if args.api == "regress" else "serving_default")
    dtypes = client.input_dtypes() if ".csv" in args.input_path else {}
    examples = read_examples(args.input_path, dtypes, args.num_rows)
    outputs, latencies = run(client, examples, args.api, signature, args.batch_size)
    print(summary(outputs, latencies, len(examples)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
