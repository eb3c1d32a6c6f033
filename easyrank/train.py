"""python -m easyrank.train --pipeline_config_path CFG [--model_dir DIR] [--edit_config_json JSON]
                           [--input_mode auto|resume|continue]

Trains (resuming from model_dir's latest checkpoint, or continuing from it on
new data), evaluates, writes <model_dir>/eval_result.json and exports
<export_dir>/<version>/.
"""

import os

from absl import flags

from easyrank import console
from easyrank.errors import ConfigError, eval_input_path_unset
from easyrank.io import early

console.define_config_flags()
flags.DEFINE_string("model_dir", None, "Overrides the config's model_dir.")
flags.DEFINE_enum("input_mode", "auto", ["auto", "resume", "continue"],
                  "With a checkpoint in model_dir: resume it on the input it was trained on "
                  "(skip the batches already trained), continue on new data (read the input "
                  "from its first row, keep the global step), or auto: resume when the input "
                  "files, their sizes and times and the batching match the checkpoint's.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from easyrank.training.phases import PhaseTimer
    timer = PhaseTimer()  # the imports end here; phases.json in model_dir (tools/benchmark.py)
    config = console.load_pipeline_config()
    model_dir = check_model_dir(config)
    from easyrank.training import loop
    loop.train_and_evaluate(config, model_dir, input_mode=FLAGS.input_mode, phases=timer)
    return 0


def check_model_dir(config):
    model_dir = FLAGS.model_dir or config.model_dir
    if not model_dir:
        raise ConfigError("no model_dir: set it in the config or pass --model_dir.",
                          path="model_dir", file=FLAGS.pipeline_config_path)
    return model_dir


def check_config():
    """The config errors reported before TensorFlow is imported (console.run): those of the
    config, and, for a run of one process (no TF_CONFIG: a cluster's tasks check in the train
    loop, each its own way), those of the run that need no TensorFlow: no eval_input_path, a
    local model_dir that is a file. The train loop checks both again."""
    config = console.check_pipeline_config()
    model_dir = check_model_dir(config)
    if os.environ.get("TF_CONFIG"):
        return
    if not config.eval_input_path:
        raise eval_input_path_unset()
    early.check_local_directory(model_dir, "model_dir")


if __name__ == "__main__":
    console.run(main, fast_exit=True, check_first=check_config)
