"""python -m easyrank.evaluate --pipeline_config_path CFG [--checkpoint_path P] [--eval_input_path X]

Evaluates a checkpoint (default: the latest in model_dir), prints the metrics
and writes them to <model_dir>/eval_result.json (or --output_path).
"""

import json
import os

from absl import flags

from easyrank import cli
from easyrank.errors import ConfigError

cli.define_config_flags()
flags.DEFINE_string("model_dir", None, "Overrides the config's model_dir.")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint file or directory (default: model_dir).")
flags.DEFINE_multi_string("eval_input_path", None, "Evaluate on these files instead of eval_input_path.")
flags.DEFINE_string("output_path", None, "Where to write the metrics JSON.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = cli.load_pipeline_config()
    model_dir = FLAGS.model_dir or config.model_dir
    checkpoint_path = FLAGS.checkpoint_path or model_dir
    if not checkpoint_path:
        raise ConfigError("no checkpoint: pass --checkpoint_path or set model_dir.", path="model_dir",
                          file=FLAGS.pipeline_config_path)
    if FLAGS.eval_input_path:
        del config.eval_input_path[:]
        config.eval_input_path.extend(FLAGS.eval_input_path)
    import tensorflow as tf

    from easyrank import distribute, evaluation, training
    from easyrank.data import build_dataset
    model, checkpoint = training.create_model(config, distribute.build_strategy(config.train_config))
    restored = training.restore(checkpoint, checkpoint_path)
    if not restored:
        raise ConfigError(f"no checkpoint found in {checkpoint_path!r}; train first.", path="model_dir",
                          file=FLAGS.pipeline_config_path)
    dataset = build_dataset(config.data_config, config.eval_input_path, training=False,
                            batch_size=config.eval_config.batch_size or None)
    results = evaluation.evaluate_model(model, dataset, config, config.eval_config.num_eval_steps)
    results["global_step"] = int(model.optimizer.iterations)
    print(json.dumps(results, indent=2, sort_keys=True))
    if FLAGS.output_path:
        directory, name = os.path.split(FLAGS.output_path)
        evaluation.write_eval_result(directory or ".", results, name)
    elif model_dir:
        evaluation.write_eval_result(model_dir, results)
    del tf
    return 0


if __name__ == "__main__":
    cli.run(main)
