"""A stand-in for tensorflow_model_server: a SavedModel behind TF Serving's request rules.

This module imports only TensorFlow and tensorflow-serving-api protos, never
easyrank (it reads files with tf.io.gfile itself), so that `easyrank.check_export` can run it as a script in a fresh
process that sees the export exactly as a server would:

    python easyrank/serving/serving_sim.py VERSION_DIR --out result.json [--requests R.tfrecord]
    python easyrank/serving/serving_sim.py --serve   # several exports in turn (serve())

`Servable` answers Predict, Regress, Classify and GetModelMetadata requests
with the checks TF Serving makes (signature found, input keys equal to the
signature's, dtypes, Regress/Classify method names and output shapes) and
raises `ServingError(code, message)` where the server would answer an error.
The in-process gRPC server of tests/tools/serving_client_test.py wraps it.
"""

import os
import sys

if __name__ == "__main__":  # Run as a script: keep easyrank/serving/ (its module names) off sys.path.
    sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import json  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

PREDICT_METHOD = "tensorflow/serving/predict"
REGRESS_METHOD = "tensorflow/serving/regress"
CLASSIFY_METHOD = "tensorflow/serving/classify"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000
PY_FUNC_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


class ServingError(Exception):
    """An error TF Serving would return; `code` is a grpc.StatusCode name."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Servable:
    """One loaded version: signatures from saved_model.pb, functions from tf.saved_model.load."""

    def __init__(self, version_dir, model_name="model"):
        self.version_dir = version_dir
        self.model_name = model_name
        self.version = int(os.path.basename(os.path.normpath(version_dir)) or 0) if os.path.basename(
            os.path.normpath(version_dir)).isdigit() else 0
        self.saved_model = saved_model_pb2.SavedModel()
        with tf.io.gfile.GFile(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
            self.saved_model.ParseFromString(f.read())
        self.meta_graph = next(m for m in self.saved_model.meta_graphs if "serve" in m.meta_info_def.tags)
        self.signature_defs = self.meta_graph.signature_def
        self.loaded = tf.saved_model.load(version_dir, tags=["serve"])

    def _signature(self, name, method=None):
        name = name or "serving_default"
        if name not in self.signature_defs:
            raise ServingError("FAILED_PRECONDITION",
                               f'Serving signature key "{name}" not found.')
        sig = self.signature_defs[name]
        if method and sig.method_name != method:
            raise ServingError("INVALID_ARGUMENT",
                               f'Expected {method} signature method_name, got: {sig.method_name}')
        return name, sig

    def _run(self, name, inputs):
        try:
            return {k: v.numpy() for k, v in self.loaded.signatures[name](**inputs).items()}
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as e:
            raise ServingError("INVALID_ARGUMENT", _graph_error(e)) from None

    def predict(self, request):
        name, sig = self._signature(request.model_spec.signature_name)
        given, wanted = set(request.inputs), set(sig.inputs)
        if given != wanted:
            raise ServingError("INVALID_ARGUMENT", (
                f"input keys {sorted(given)} do not match the signature's {sorted(wanted)} "
                f"(missing {sorted(wanted - given)}, unknown {sorted(given - wanted)})"))
        inputs = {}
        for key, proto in request.inputs.items():
            if proto.dtype != sig.inputs[key].dtype:
                raise ServingError("INVALID_ARGUMENT", (
                    f"input '{key}': expects {tf.dtypes.as_dtype(sig.inputs[key].dtype).name} "
                    f"but {tf.dtypes.as_dtype(proto.dtype).name} is provided"))
            inputs[key] = tf.make_ndarray(proto)
        outputs = self._run(name, inputs)
        unknown = set(request.output_filter) - set(outputs)
        if unknown:
            raise ServingError("INVALID_ARGUMENT", f"output tensor alias not found in signature: {sorted(unknown)}")
        response = predict_pb2.PredictResponse()
        self._fill_spec(response.model_spec, name)
        for key, value in outputs.items():
            if not request.output_filter or key in request.output_filter:
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def _examples_run(self, request, method):
        name, sig = self._signature(request.model_spec.signature_name, method)
        if list(sig.inputs) != ["inputs"] or sig.inputs["inputs"].dtype != tf.string.as_datatype_enum:
            raise ServingError("INVALID_ARGUMENT", f"{method} signature must have one string input 'inputs'")
        kind = request.input.WhichOneof("kind")
        if kind != "example_list" or not request.input.example_list.examples:
            raise ServingError("INVALID_ARGUMENT", "Input is empty or not an example_list.")
        serialized = [e.SerializeToString() for e in request.input.example_list.examples]
        return name, len(serialized), self._run(name, {"inputs": np.array(serialized, dtype=object)})

    def regress(self, request):
        name, batch, outputs = self._examples_run(request, REGRESS_METHOD)
        values = outputs.get("outputs")
        if values is None or values.dtype != np.float32 or values.shape not in ((batch,), (batch, 1)):
            raise ServingError("INVALID_ARGUMENT", "Expected output Tensor 'outputs' of float32 with "
                               f"shape [batch_size] or [batch_size, 1], batch_size {batch}")
        response = regression_pb2.RegressionResponse()
        self._fill_spec(response.model_spec, name)
        for value in values.reshape(-1):
            response.result.regressions.add(value=float(value))
        return response

    def classify(self, request):
        name, batch, outputs = self._examples_run(request, CLASSIFY_METHOD)
        scores, classes = outputs.get("scores"), outputs.get("classes")
        if scores is None or scores.dtype != np.float32 or scores.ndim != 2 or scores.shape[0] != batch:
            raise ServingError("INVALID_ARGUMENT", "Expected output Tensor 'scores' of float32 with "
                               "shape [batch_size, num_classes]")
        if classes is not None and classes.shape != scores.shape:
            raise ServingError("INVALID_ARGUMENT", "'classes' and 'scores' shapes differ")
        response = classification_pb2.ClassificationResponse()
        self._fill_spec(response.model_spec, name)
        for i in range(batch):
            result = response.result.classifications.add()
            for j in range(scores.shape[1]):
                label = classes[i, j].decode() if classes is not None else ""
                result.classes.add(label=label, score=float(scores[i, j]))
        return response

    def metadata(self, request):
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        self._fill_spec(response.model_spec, "")
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, value in self.signature_defs.items():
            signatures.signature_def[key].CopyFrom(value)
        response.metadata["signature_def"].Pack(signatures)
        return response

    def _fill_spec(self, spec, signature_name):
        spec.name = self.model_name
        spec.version.value = self.version
        spec.signature_name = signature_name

    def replay(self, log):
        """Answers one PredictionLog's request; returns (signature name, {output: array})."""
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            response = self.predict(log.predict_log.request)
            return response.model_spec.signature_name, {
                k: tf.make_ndarray(v) for k, v in response.outputs.items()}
        if kind == "regress_log":
            response = self.regress(log.regress_log.request)
            return response.model_spec.signature_name, {
                "outputs": np.array([r.value for r in response.result.regressions], np.float32)}
        if kind == "classify_log":
            response = self.classify(log.classify_log.request)
            return response.model_spec.signature_name, {"scores": np.array(
                [[c.score for c in r.classes] for r in response.result.classifications], np.float32)}
        raise ServingError("INVALID_ARGUMENT", f"unsupported warmup record type {kind}")


def _graph_error(error):
    """The line of a TensorFlow error that says what is wrong (not the node's stack)."""
    lines = [line.strip() for line in getattr(error, "message", str(error)).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(
        ("Graph execution error", "Detected at node", "<stack", "[[", "File "))]
    text = (useful or lines or [type(error).__name__])[-1]
    return text.split("\t [[")[0].split(" [[")[0].strip()


def read_logs(path):
    logs = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def static_problems(servable):
    """Ops outside core TensorFlow, py_function, XLA-only functions, saved_model_cli's denylist."""
    from tensorflow.python.framework import op_def_registry
    from tensorflow.python.tools import saved_model_cli

    graph = servable.meta_graph.graph_def
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    ops = {n.op for n in nodes}
    functions = {f.signature.name for f in graph.library.function}
    problems = [f"op {op} is not a core TensorFlow op" for op in sorted(ops - functions)
                if op_def_registry.get(op) is None]
    problems += [f"op {op} (py_function) cannot be served" for op in sorted(ops & PY_FUNC_OPS)]
    for f in graph.library.function:
        if f.attr["_XlaMustCompile"].b:
            problems.append(f"function {f.signature.name} must be compiled with XLA")
    denied = sorted(ops & set(saved_model_cli._OP_DENYLIST))  # what `saved_model_cli scan` reports
    problems += [f"op {op} is on saved_model_cli scan's denylist" for op in denied]
    return problems, len(ops)


def dtype_problems(servable):
    """A request of the wrong dtype must be refused with an INVALID_ARGUMENT, not a crash."""
    problems = []
    for name, sig in servable.signature_defs.items():
        if sig.method_name != PREDICT_METHOD:
            continue
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = name
        for i, (key, info) in enumerate(sorted(sig.inputs.items())):
            wrong = tf.float32 if info.dtype == tf.string.as_datatype_enum else tf.string
            value = np.array([1.0], np.float32) if wrong == tf.float32 else np.array([b"x"], object)
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value if i == 0 else _default(info)))
        try:
            servable.predict(request)
            problems.append(f"signature {name} accepted a request of the wrong dtype")
        except ServingError as e:
            if e.code != "INVALID_ARGUMENT":
                problems.append(f"signature {name}: wrong dtype gave {e}")
    if "serving_default" in servable.signature_defs:  # a tf.Example feature of the wrong kind
        raw = servable.signature_defs.get("raw_features")
        key = sorted(raw.inputs)[0] if raw is not None else None
        if key is not None:
            example = tf.train.Example()
            wrong = raw.inputs[key].dtype == tf.string.as_datatype_enum
            feature = example.features.feature[key]
            feature.float_list.value.append(1.0) if wrong else feature.bytes_list.value.append(b"x")
            request = predict_pb2.PredictRequest()
            request.inputs["examples"].CopyFrom(tf.make_tensor_proto([example.SerializeToString()], tf.string))
            try:
                servable.predict(request)
                problems.append(f"serving_default accepted feature {key} of the wrong kind")
            except ServingError as e:
                if key not in e.message:
                    problems.append(f"serving_default's error does not name feature {key}: {e}")
    return problems


def _default(info):
    dtype = tf.dtypes.as_dtype(info.dtype)
    shape = [1] + [max(d.size, 1) for d in info.tensor_shape.dim[1:]]
    if dtype == tf.string:
        return np.full(shape, b"", dtype=object)
    return np.full(shape, 0, dtype=dtype.as_numpy_dtype)


def check(version_dir, requests_path=None, outputs_path=None):
    """Every check that needs no easyrank; returns a JSON-able report."""
    servable = Servable(version_dir)
    problems, num_ops = static_problems(servable)
    warmup_path = os.path.join(version_dir, WARMUP_FILE)
    covered, num_warmup = set(), 0
    if not tf.io.gfile.exists(warmup_path):
        problems.append(f"no warmup records at {WARMUP_FILE}")
    else:
        logs = read_logs(warmup_path)
        num_warmup = len(logs)
        if num_warmup > MAX_WARMUP_RECORDS:
            problems.append(f"{num_warmup} warmup records; TF Serving reads at most {MAX_WARMUP_RECORDS}")
        for i, log in enumerate(logs):
            try:
                covered.add(servable.replay(log)[0])
            except ServingError as e:
                problems.append(f"warmup record {i}: {e}")
    missing = sorted(set(servable.signature_defs) - covered - {"__saved_model_init_op"})
    problems += [f"signature {name} is not called by any warmup record" for name in missing]
    problems += dtype_problems(servable)
    if requests_path:
        results = {}
        for i, log in enumerate(read_logs(requests_path)):
            try:
                name, outputs = servable.replay(log)
                # String outputs as fixed-width bytes: .npz object arrays would need pickle.
                results.update({f"{name}|{k}": v.astype(bytes) if v.dtype == object else v
                                for k, v in outputs.items()})
            except ServingError as e:
                problems.append(f"comparison request {i}: {e}")
        np.savez(outputs_path, **results)
    problems += [f"easyrank was imported by the check ({m})" for m in sys.modules if m.split(".")[0] == "easyrank"]
    return {"version_dir": version_dir, "signatures": {k: v.method_name for k, v in servable.signature_defs.items()},
            "num_ops": num_ops, "warmup_records": num_warmup, "problems": problems}


def write_check(version_dir, out, requests_path=None, outputs_path=None):
    """check() with its report written to `out`; the exit code (1: problems)."""
    report = check(version_dir, requests_path, outputs_path)
    with tf.io.gfile.GFile(out, "w") as f:
        json.dump(report, f, indent=1)
    return 0 if not report["problems"] else 1


def serve(lines, answer):
    """--serve: one check per JSON line {"id", "version_dir", "out", "requests", "outputs"},
    each export loaded anew, as one model server loads several models; after each, the line
    "END <id> <exit code>" (2: the check raised; its traceback is on stderr and no report
    is written). Saves TensorFlow's import per export (easyrank/serving/check_processes.py)."""
    import traceback
    for line in lines:
        request = json.loads(line)
        try:
            code = write_check(request["version_dir"], request["out"], request.get("requests"),
                               request.get("outputs"))
        except Exception:  # reported through the missing report, with this traceback
            traceback.print_exc()
            sys.stderr.flush()
            code = 2
        print(f"END {request['id']} {code}", file=answer, flush=True)


def main(argv):
    if argv == ["--serve"]:
        serve(sys.stdin, sys.stdout)
        return 0
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version_dir")
    parser.add_argument("--out", required=True, help="Where to write the JSON report.")
    parser.add_argument("--requests", help="TFRecord of PredictionLog to answer.")
    parser.add_argument("--outputs", help="Where to write their outputs (.npz).")
    args = parser.parse_args(argv)
    return write_check(args.version_dir, args.out, args.requests, args.outputs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
