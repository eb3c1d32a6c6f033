"""One DeepCTR DCNMix benchmark run: the peer of tools/benchmark_easyrank.py.

Runs in a separate virtualenv holding deepctr==0.9.4 (tensorflow 2.21,
tf-keras 2.21, pandas, scikit-learn); it must not import easyrank. The model
and data settings come from a JSON spec written by tools/benchmark.py from the
easyrank config, so both sides train the same thing. Follows DeepCTR's README
recipe: pandas reads the CSV, LabelEncoder maps categories to ids (fitted on
train + test, as the README does), numbers get the same log1p + z-score as the
easyrank config, and model.fit trains from NumPy arrays. Prints one JSON object
on the last line of stdout.

    /work/peer-venv/bin/python tools/benchmark_deepctr.py --spec spec.json --work_dir DIR
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from deepctr.feature_column import DenseFeat, SparseFeat, get_feature_names  # noqa: E402
from deepctr.models import DCNMix  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.preprocessing import LabelEncoder  # noqa: E402


class StepTimer(tf.keras.callbacks.Callback):
    """Examples/s from the first batch end at or after `warmup_steps` to the end of training."""

    def __init__(self, warmup_steps, batch_size):
        super().__init__()
        self.warmup_steps, self.batch_size = warmup_steps, batch_size
        self.start = self.end = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.start is None and step >= self.warmup_steps:
            self.start = (step, time.perf_counter())
        self.end = (step, time.perf_counter())

    def rate(self):
        if self.start is None or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[0] - self.start[0]) * self.batch_size / (self.end[1] - self.start[1])


def load(spec):
    """(train inputs, train labels, test inputs, test labels, feature columns, rows/s)."""
    start = time.perf_counter()
    sparse = [f["name"] for f in spec["sparse"]]
    dense = [f["name"] for f in spec["dense"]]
    usecols = sparse + dense + [spec["label"]]
    dtypes = {name: str for name in sparse}
    train = pd.read_csv(spec["train_input_path"], usecols=usecols, dtype=dtypes, keep_default_na=False)
    test = pd.read_csv(spec["test_input_path"], usecols=usecols, dtype=dtypes, keep_default_na=False)
    data = pd.concat([train, test], ignore_index=True)
    for f in spec["dense"]:
        # Empty cells -> 0 (DeepCTR's Criteo recipe fills missing numbers with 0, as easyrank's default).
        x = pd.to_numeric(data[f["name"]], errors="coerce").fillna(0).astype("float32").to_numpy()
        if f["log1p"]:
            x = np.log1p(np.maximum(x, 0.0))
        data[f["name"]] = (x - f["mean"]) / f["std"]
    vocabulary = {}
    for name in sparse:
        data[name] = LabelEncoder().fit_transform(data[name])
        vocabulary[name] = int(data[name].max()) + 1
    columns = [SparseFeat(f["name"], vocabulary_size=vocabulary[f["name"]],
                          embedding_dim=f["embedding_dim"]) for f in spec["sparse"]]
    columns += [DenseFeat(name, 1) for name in dense]
    names = get_feature_names(columns)
    n = len(train)
    train_x = {k: data[k].to_numpy()[:n] for k in names}
    test_x = {k: data[k].to_numpy()[n:] for k in names}
    labels = data[spec["label"]].astype("float32").to_numpy()
    rate = len(data) / (time.perf_counter() - start)
    return train_x, labels[:n], test_x, labels[n:], columns, rate


def inference_rate(path, test_x, batch_size, num_batches, repeats=2):
    """Examples/s of the SavedModel's serving_default signature (one call per batch)."""
    fn = tf.saved_model.load(path).signatures["serving_default"]
    batches = []
    for i in range(num_batches):
        batch = {k: tf.constant(v[i * batch_size:(i + 1) * batch_size]) for k, v in test_x.items()}
        batches.append({k: tf.reshape(tf.cast(v, spec.dtype), [-1, 1])
                        for (k, v), spec in zip(batch.items(), [
                            fn.structured_input_signature[1][k] for k in batch])})
    fn(**batches[0])
    rows, start = 0, time.perf_counter()
    for _ in range(repeats):
        for batch in batches:
            fn(**batch)
            rows += int(next(iter(batch.values())).shape[0])
    return rows / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--warmup_steps", type=int, default=20)
    parser.add_argument("--inference_batches", type=int, default=20)
    parser.add_argument("--skip_export", action="store_true")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    result = {"system": "deepctr", "batch_size": spec["batch_size"], "epochs": spec["epochs"]}
    train_x, train_y, test_x, test_y, columns, result["input_rows_per_s"] = load(spec)
    result["train_rows"] = int(len(train_y))

    tf.keras.utils.set_random_seed(spec["seed"])
    model = DCNMix(columns, columns, cross_num=spec["cross_num"],
                   dnn_hidden_units=tuple(spec["dnn_hidden_units"]), low_rank=spec["low_rank"],
                   num_experts=spec["num_experts"], seed=spec["seed"], task="binary")
    model.compile(tf.keras.optimizers.Adam(spec["learning_rate"]), "binary_crossentropy")
    result["params"] = int(model.count_params())
    timer = StepTimer(args.warmup_steps, spec["batch_size"])
    start = time.perf_counter()
    model.fit(train_x, train_y, batch_size=spec["batch_size"], epochs=spec["epochs"], verbose=0,
              shuffle=True, callbacks=[timer])
    result["train_seconds"] = time.perf_counter() - start
    result["train_steps"] = int(model.optimizer.iterations.numpy())
    result["train_examples_per_s"] = timer.rate()
    result["train_examples_per_s_overall"] = result["train_rows"] * spec["epochs"] / result["train_seconds"]

    scores = model.predict(test_x, batch_size=4096, verbose=0).ravel()
    result["test_auc"] = float(roc_auc_score(test_y, scores))
    result["test_rows"] = int(len(test_y))
    if not args.skip_export:
        path = os.path.join(args.work_dir, "saved_model")
        model.save(path, save_format="tf")
        if args.inference_batches > 0:
            result["inference_examples_per_s"] = inference_rate(
                path, test_x, spec["batch_size"], args.inference_batches)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
