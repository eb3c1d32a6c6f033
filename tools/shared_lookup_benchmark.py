"""One gather per shared embedding table against one gather per feature (issue 13).

Features that name the same embedding table (DIN's movie_id and its history
hist_movie_id, ...) are looked up by FeatureGroups in one gather per table when
`shared_lookup` is on. Same process, same config, one in-memory batch repeated
(no input cost): fits of --steps steps alternate between a model with one gather
per feature and one with shared look-ups, --repeats times each; prints the
medians of process CPU ms/step and wall ms/step.

    python tools/shared_lookup_benchmark.py --config samples/configs/movielens_din.config
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
import tf_keras  # noqa: E402

from easyrank import config as config_lib  # noqa: E402
from easyrank.data import build_dataset  # noqa: E402
from easyrank.training import strategies  # noqa: E402
from easyrank.training.model_state import create_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="samples/configs/movielens_din.config")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=0, help="0: the config's.")
    args = parser.parse_args()
    edits = {"data_config.batch_size": args.batch_size} if args.batch_size else None
    config = config_lib.load_config(args.config, edits)
    first = next(iter(build_dataset(config.data_config, config.train_input_path, training=True,
                                    seed=1)))
    batches = tf.data.Dataset.from_tensors(first).repeat()
    models = {}
    for name, shared in [("one gather per feature", False), ("one gather per table", True)]:
        tf_keras.utils.set_random_seed(1)
        model, _ = create_model(config, strategies.build_strategy(config.train_config))
        model.feature_groups.shared_lookup = shared  # before the first trace
        model.fit(batches, epochs=1, steps_per_epoch=20, verbose=0)  # trace once
        models[name] = model
    cpu, wall = {name: [] for name in models}, {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start, process = time.perf_counter(), time.process_time()
            model.fit(batches, epochs=1, steps_per_epoch=args.steps, verbose=0)
            wall[name].append(1000 * (time.perf_counter() - start) / args.steps)
            cpu[name].append(1000 * (time.process_time() - process) / args.steps)
    names = [c.embedding_name for c in models["one gather per table"].feature_groups
             .columns.values() if getattr(c, "table_ids", None) is not None]
    shared_tables = {name for name in names if names.count(name) > 1}
    print(f"{args.config}, batch {config.data_config.batch_size}, {args.repeats} x "
          f"{args.steps} steps, tables: {sorted(shared_tables)}")
    print("| look-up | CPU ms/step (median) | runs | wall ms/step (median) |")
    print("|---|---:|---|---:|")
    for name in models:
        print(f"| {name} | {statistics.median(cpu[name]):.2f} | "
              f"{', '.join(f'{x:.1f}' for x in cpu[name])} | {statistics.median(wall[name]):.2f} |")


if __name__ == "__main__":
    main()
