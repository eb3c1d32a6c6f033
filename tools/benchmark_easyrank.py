"""One easyrank benchmark run (called by tools/benchmark.py in a fresh process).

Trains the model of a config exactly as `python -m easyrank.train` does
(model_state.create_model, build_dataset, model.fit; no checkpoints or summaries),
then measures the test AUC, the exported SavedModel's inference speed and the
process's peak memory. Prints one JSON object on the last line of stdout.

    .venv/bin/python tools/benchmark_easyrank.py --config CFG --test_input_path X \
        --work_dir /tmp/bench/ours
"""

import argparse
import json
import os
import resource
import sys
import time

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import numpy as np
import tensorflow as tf
import tf_keras

from easyrank.config import load_config
from easyrank.data import build_dataset
from easyrank.evaluation import evaluator, metrics
from easyrank.models.heads import prediction_key
from easyrank.serving import saved_model
from easyrank.training import loop, model_state, strategies


class StepTimer(tf_keras.callbacks.Callback):
    """Examples/s from the first batch end at or after `warmup_steps` to the end of training.

    Steps are read from the optimizer, so steps_per_execution > 1 is counted right.
    """

    def __init__(self, warmup_steps, batch_size):
        super().__init__()
        self.warmup_steps, self.batch_size = warmup_steps, batch_size
        self.start = None  # (step, time)
        self.end = None

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.start is None and step >= self.warmup_steps:
            self.start = (step, time.perf_counter())
        self.end = (step, time.perf_counter())

    def rate(self):
        if self.start is None or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[0] - self.start[0]) * self.batch_size / (self.end[1] - self.start[1])


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def input_pipeline_rates(config, paths):
    """Rows/s of the training tf.data pipeline drained without a model.

    Returns (rows/s over the first epoch, rows/s over the later epochs (nan with
    one epoch), rows/s over all num_epochs, rows per epoch).
    """
    epochs = config.train_config.num_epochs
    dataset = build_dataset(config.data_config, paths, training=True, num_epochs=epochs,
                            seed=config.train_config.seed)
    counts, times, start = [], [], time.perf_counter()
    for _, targets in dataset:
        counts.append(int(next(iter(targets.values())).shape[0]))
        times.append(time.perf_counter())
    cumulative = np.cumsum(counts)
    per_epoch = int(cumulative[-1]) // epochs
    first = int(np.searchsorted(cumulative, per_epoch))
    later = ((cumulative[-1] - cumulative[first]) / (times[-1] - times[first])
             if epochs > 1 else float("nan"))
    return (cumulative[first] / (times[first] - start), later,
            cumulative[-1] / (times[-1] - start), per_epoch)


def inference_rate(saved_model_dir, features_batches, repeats):
    """Examples/s of the exported model's raw_features signature (one call per batch)."""
    loaded = tf.saved_model.load(saved_model_dir)
    fn = loaded.signatures["raw_features"]
    fn(**features_batches[0])  # warm-up
    rows, start = 0, time.perf_counter()
    for _ in range(repeats):
        for batch in features_batches:
            fn(**batch)
            rows += int(next(iter(batch.values())).shape[0])
    return rows / (time.perf_counter() - start)


def dense_form(sparse):
    """tf_keras' optimizer with the settings of a SparseOptimizer (row-wise Adagrad: Adagrad)."""
    config = sparse.get_config()
    lr = sparse._learning_rate  # noqa: SLF001 (a float or the same schedule)
    kind = type(sparse).__name__
    if kind == "LazyAdam":
        return tf_keras.optimizers.Adam(lr, config["beta_1"], config["beta_2"], config["epsilon"])
    if kind in ("SparseAdagrad", "RowwiseAdagrad"):
        return tf_keras.optimizers.Adagrad(lr, config["initial_accumulator_value"],
                                           config["epsilon"])
    if kind == "SparseFtrl":
        return tf_keras.optimizers.Ftrl(
            lr, config["learning_rate_power"], config["initial_accumulator_value"],
            config["l1_regularization_strength"], config["l2_regularization_strength"])
    return tf_keras.optimizers.SGD(lr, config["momentum"], config["nesterov"])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--train_input_path", default="")
    parser.add_argument("--test_input_path", required=True)
    parser.add_argument("--edit_config_json", default="")
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--warmup_steps", type=int, default=20)
    parser.add_argument("--inference_batches", type=int, default=20)
    parser.add_argument("--skip_input", action="store_true")
    parser.add_argument("--skip_export", action="store_true")
    parser.add_argument("--dense_table_optimizer", action="store_true",
                        help="Update the tables with tf_keras' own (dense) form of the embedding "
                             "optimizer at the same settings instead of its row-wise form "
                             "(tools/embedding_benchmark.py --quality).")
    args = parser.parse_args()

    config = load_config(args.config, args.edit_config_json or None)
    if args.train_input_path:
        config.ClearField("train_input_path")
        config.train_input_path.append(args.train_input_path)
    train_paths = list(config.train_input_path)
    train = config.train_config
    batch_size = config.data_config.batch_size
    result = {"system": "easyrank", "batch_size": batch_size, "epochs": train.num_epochs}

    if not args.skip_input:
        (result["input_rows_per_s"], result["input_rows_per_s_later_epochs"],
         result["input_rows_per_s_all_epochs"], result["train_rows"]) = input_pipeline_rates(config, train_paths)

    tf_keras.utils.set_random_seed(train.seed)
    model, _ = model_state.create_model(config, strategies.build_strategy(train))
    result["params"] = int(model.count_params())
    if args.dense_table_optimizer:
        model.optimizer.embedding = dense_form(model.optimizer.embedding)
    dataset = build_dataset(config.data_config, train_paths, training=True,
                            num_epochs=train.num_epochs, seed=train.seed)
    steps = None
    if train.steps_per_execution > 1:  # fit needs the step count (as training.py does)
        steps = loop.epochs_steps(config)
    timer = StepTimer(args.warmup_steps, batch_size)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
    result["train_seconds"] = time.perf_counter() - start
    result["train_steps"] = int(model.optimizer.iterations.numpy())
    result["train_examples_per_s"] = timer.rate()
    result["train_examples_per_s_overall"] = result["train_steps"] * batch_size / result["train_seconds"]

    test = build_dataset(config.data_config, [args.test_input_path], training=False, batch_size=4096)
    task = config.model_config.tasks[0]
    collected = evaluator.collect_predictions(model, test, [task])
    result["test_auc"] = float(metrics.auc(collected[task.label], collected[prediction_key(task)]))
    result["test_rows"] = int(len(collected[task.label]))

    if not args.skip_export:
        path = saved_model.export_model(model, config, os.path.join(args.work_dir, "export"))
        batches = [features for features, _ in build_dataset(
            config.data_config, [args.test_input_path], training=False,
            batch_size=batch_size).take(args.inference_batches)]
        result["inference_examples_per_s"] = inference_rate(path, batches, repeats=2)
    result["peak_rss_mib"] = peak_rss_mib()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
