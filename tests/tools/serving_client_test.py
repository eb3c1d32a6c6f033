"""tools/serving_client.py against in-process gRPC and REST servers over one exported SavedModel.

The gRPC server implements tensorflow-serving-api's PredictionService with
easyrank.serving_sim.Servable (TF Serving's request rules); the REST server
speaks the subset of TF Serving's JSON API the client uses.
"""

import base64
import contextlib
import http.server
import importlib.util
import json
import os
import sys
import threading
from concurrent import futures

import easyrank  # noqa: F401

# isort: split
import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from easyrank.serving import saved_model, warmup
from easyrank.serving.serving_sim import Servable, ServingError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from export_test import census_config  # noqa: E402

TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


def load_client():
    spec = importlib.util.spec_from_file_location("serving_client", os.path.join(ROOT, "tools", "serving_client.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):

    def __init__(self, servable):
        self.servable = servable

    def _answer(self, fn, request, context):
        if request.model_spec.name != self.servable.model_name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found: {request.model_spec.name}")
        try:
            return fn(request)
        except ServingError as e:
            context.abort(getattr(grpc.StatusCode, e.code), e.message)

    def Predict(self, request, context):
        return self._answer(self.servable.predict, request, context)

    def Regress(self, request, context):
        return self._answer(self.servable.regress, request, context)

    def Classify(self, request, context):
        return self._answer(self.servable.classify, request, context)

    def GetModelMetadata(self, request, context):
        return self._answer(self.servable.metadata, request, context)


def rest_handler(servable):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            response = servable.metadata(get_model_metadata_pb2.GetModelMetadataRequest())
            signatures = get_model_metadata_pb2.SignatureDefMap()
            response.metadata["signature_def"].Unpack(signatures)
            self._send(200, {"metadata": {"signature_def": json_format.MessageToDict(
                signatures, preserving_proto_field_name=True)}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                if self.path.endswith(":predict"):
                    request = predict_pb2.PredictRequest()
                    request.model_spec.signature_name = body.get("signature_name", "")
                    serialized = [base64.b64decode(i["b64"]) for i in body["instances"]]
                    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized, tf.string))
                    outputs = {k: tf.make_ndarray(v) for k, v in servable.predict(request).outputs.items()}
                    rows = [{k: float(v[i]) for k, v in outputs.items()} for i in range(len(serialized))]
                    return self._send(200, {"predictions": rows})
                request = regression_pb2.RegressionRequest()
                request.model_spec.signature_name = body.get("signature_name", "")
                for row in body["examples"]:
                    example = request.input.example_list.examples.add()
                    for name, value in row.items():
                        feature = example.features.feature[name]
                        if isinstance(value, str):
                            feature.bytes_list.value.append(value.encode())
                        elif isinstance(value, int):
                            feature.int64_list.value.append(value)
                        else:
                            feature.float_list.value.append(value)
                response = servable.regress(request)
                self._send(200, {"results": [r.value for r in response.result.regressions]})
            except ServingError as e:
                self._send(400, {"error": e.message})

    return Handler


@contextlib.contextmanager
def servers(servable):
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(servable), grpc_server)
    grpc_port = grpc_server.add_insecure_port("localhost:0")
    grpc_server.start()
    rest = http.server.ThreadingHTTPServer(("localhost", 0), rest_handler(servable))
    thread = threading.Thread(target=rest.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"localhost:{grpc_port}", f"localhost:{rest.server_address[1]}"
    finally:
        rest.shutdown()
        grpc_server.stop(None)


class ServingClientTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from easyrank.models import build_model
        tmp = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), f"serving_client_test_{os.getpid()}")
        cls.config = census_config()
        cls.model = build_model(cls.config)
        cls.version_dir = saved_model.export_model(cls.model, cls.config, os.path.join(tmp, "export"))
        features, _ = warmup.read_rows(cls.config, 20)
        cls.expected = cls.model(features, training=False)["income/probs"].numpy()

    def run_client(self, server, *flags):
        client = load_client()
        with self.captureWritesToStream(sys.stdout) as capture:
            client.main(["--server", server, "--model_name", "census", "--input_path", TINY,
                         "--num_rows", "20", "--batch_size", "8", *flags])
        return client, capture.contents()

    def test_grpc_and_rest(self):
        servable = Servable(self.version_dir, model_name="census")
        with servers(servable) as (grpc_address, rest_address):
            client = load_client()
            grpc_client = client.GrpcClient(grpc_address, "census", 10)
            examples = client.read_examples(TINY, grpc_client.input_dtypes(), 20)
            for api, key in (("predict", "income/probs"), ("regress", "outputs")):
                for remote in (grpc_client, client.RestClient(rest_address, "census", 10)):
                    outputs, latencies = client.run(remote, examples, api,
                                                    "regress" if api == "regress" else "serving_default", 8)
                    self.assertAllClose(outputs[key], self.expected, atol=1e-5, msg=f"{api} {remote}")
                    self.assertLen(latencies, 3)  # 20 rows in batches of 8
            _, text = self.run_client(grpc_address, "--api", "regress")
            self.assertRegex(text, r"3 requests, 20 rows: latency p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms")
            self.assertIn(f"(mean {self.expected.mean():.5f})", text)
            _, text = self.run_client(rest_address, "--rest")
            self.assertIn("income/probs: [", text)
            # An unknown model is refused by the server, as TF Serving does.
            with self.assertRaises(grpc.RpcError) as error:
                client.GrpcClient(grpc_address, "other", 10).predict(examples[:1], "serving_default")
            self.assertEqual(error.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_wrong_dtype_is_invalid_argument(self):
        servable = Servable(self.version_dir, model_name="census")
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = "serving_default"
        request.inputs["examples"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
        with self.assertRaisesRegex(ServingError, "input 'examples': expects string but float32"):
            servable.predict(request)


if __name__ == "__main__":
    tf.test.main()
