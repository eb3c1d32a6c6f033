"""Overhead of LossGuard (the non-finite loss stop) on training steps.

Same process, same model, one in-memory batch repeated (no input cost):
fits of --steps steps alternate without and with LossGuard, --repeats times
each, and the medians of steps/s and of process CPU ms/step are compared.

    python tools/loss_guard_benchmark.py --config samples/configs/census_mlp.config
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import easyrank  # noqa: E402,F401

# isort: split
import tensorflow as tf  # noqa: E402

from easyrank import config as config_lib  # noqa: E402
from easyrank.data import build_dataset  # noqa: E402
from easyrank.training import strategies  # noqa: E402
from easyrank.training.callbacks import ProgressLogger  # noqa: E402
from easyrank.training.loss_guard import LossGuard  # noqa: E402
from easyrank.training.model_state import create_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="samples/configs/census_mlp.config")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    config = config_lib.load_config(args.config)
    model, _ = create_model(config, strategies.build_strategy(config.train_config))
    first = next(iter(build_dataset(config.data_config, config.train_input_path, training=True, seed=1)))
    batches = tf.data.Dataset.from_tensors(first).repeat()
    model.fit(batches, epochs=1, steps_per_epoch=50, verbose=0)  # trace once
    rates, cpu = {"without": [], "with": []}, {"without": [], "with": []}
    for _ in range(args.repeats):
        for name in rates:
            callbacks = [ProgressLogger(config.train_config.log_step_count_steps, config.data_config.batch_size)]
            if name == "with":
                callbacks.insert(0, LossGuard([config.train_config.log_step_count_steps,
                                                config.train_config.save_summary_steps,
                                                config.train_config.save_checkpoints_steps]))
            wall, process = time.perf_counter(), time.process_time()
            model.fit(batches, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=callbacks)
            rates[name].append(args.steps / (time.perf_counter() - wall))
            cpu[name].append(1000 * (time.process_time() - process) / args.steps)
    for name in rates:
        print(f"{name} LossGuard: {statistics.median(rates[name]):.1f} steps/s, "
              f"{statistics.median(cpu[name]):.2f} CPU ms/step (medians of {args.repeats})")
    print(f"ratio with/without: {statistics.median(rates['with']) / statistics.median(rates['without']):.3f} "
          "steps/s")


if __name__ == "__main__":
    main()
