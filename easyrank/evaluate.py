"""python -m easyrank.evaluate --pipeline_config_path CFG [--checkpoint_path P] [--eval_input_path X]

Evaluates a checkpoint (default: the latest in model_dir), prints the metrics
and writes them to <model_dir>/eval_result.json (or --output_path).
"""

import json
import os

from absl import flags

from easyrank import console
from easyrank.errors import ConfigError

console.define_config_flags()
flags.DEFINE_string("model_dir", None, "Overrides the config's model_dir.")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint file or directory (default: model_dir).")
flags.DEFINE_multi_string("eval_input_path", None, "Evaluate on these files instead of eval_input_path.")
flags.DEFINE_string("output_path", None, "Where to write the metrics JSON.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = console.load_pipeline_config()
    model_dir = FLAGS.model_dir or config.model_dir
    checkpoint_path = FLAGS.checkpoint_path or model_dir
    if not checkpoint_path:
        raise ConfigError("no checkpoint: pass --checkpoint_path or set model_dir.", path="model_dir",
                          file=FLAGS.pipeline_config_path)
    if FLAGS.eval_input_path:
        del config.eval_input_path[:]
        config.eval_input_path.extend(FLAGS.eval_input_path)
    from easyrank import evaluation
    from easyrank.training import model_state
    model = model_state.restore_model(config, checkpoint_path, FLAGS.pipeline_config_path)
    results = evaluation.evaluate_config(model, config)
    print(json.dumps(results, indent=2, sort_keys=True))
    if FLAGS.output_path:
        directory, name = os.path.split(FLAGS.output_path)
        evaluation.write_eval_result(directory or ".", results, name)
    elif model_dir:
        evaluation.write_eval_result(model_dir, results)
    return 0


if __name__ == "__main__":
    console.run(main, check_first=console.check_pipeline_config)
