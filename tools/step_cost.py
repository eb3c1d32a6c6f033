"""CPU cost of one training step of a config's model, without the input pipeline.

Builds the model as `python -m easyrank.train` does (model_state.create_model), takes a few
batches of the training data into memory, then runs `model.fit` over them in a loop: the
first `--warmup_steps` steps are traced and discarded, the next `--steps` are measured in
process CPU seconds (time.process_time, all threads) and wall seconds. Repeat `--rounds`
times and the best round is reported, so a loaded machine inflates it least. Prints one
JSON object.

    python tools/step_cost.py --config samples/configs/census_ple.config --steps 200
"""

import argparse
import json
import time

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import tensorflow as tf
import tf_keras

from easyrank.config import load_config
from easyrank.data import build_dataset
from easyrank.training import model_state, strategies


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--warmup_steps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--trace_dir", default="", help="write a tf.profiler trace of 20 steps")
    args = parser.parse_args()

    config = load_config(args.config)
    train = config.train_config
    tf_keras.utils.set_random_seed(train.seed)
    model, _ = model_state.create_model(config, strategies.build_strategy(train))
    data = build_dataset(config.data_config, list(config.train_input_path), training=True,
                         num_epochs=1, seed=train.seed).take(args.batches).cache().repeat()
    for _ in data.take(args.batches):  # fills the cache
        pass
    model.fit(data, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0)
    rounds = []
    for _ in range(args.rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
        rounds.append((time.process_time() - cpu, time.perf_counter() - wall))
    if args.trace_dir:
        tf.profiler.experimental.start(args.trace_dir)
        model.fit(data, epochs=1, steps_per_epoch=20, verbose=0)
        tf.profiler.experimental.stop()
    cpu, wall = min(rounds)
    batch = config.data_config.batch_size
    print(json.dumps({
        "config": args.config, "batch_size": batch, "params": int(model.count_params()),
        "cpu_ms_per_step": round(1000 * cpu / args.steps, 2),
        "wall_ms_per_step": round(1000 * wall / args.steps, 2),
        "examples_per_s": round(batch * args.steps / wall),
        "examples_per_cpu_s": round(batch * args.steps / cpu),
        "rounds_cpu_s": [round(c, 2) for c, _ in rounds]}))


if __name__ == "__main__":
    main()
