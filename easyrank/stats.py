"""python -m easyrank.stats --pipeline_config_path CFG --output_config NEW [--vocab_dir DIR]

One streaming pass over the training input fills in what the config leaves to
the data (normalizer statistics, bucket boundaries from quantiles, vocabulary
files; feature.proto), writes NEW (the config text with those entries filled in)
and the vocabulary files (default: vocab/ next to NEW), and prints a summary.
"""

from absl import flags

from easyrank import console

console.define_config_flags()
flags.DEFINE_string("output_config", None, "Where to write the filled-in config.")
flags.DEFINE_string("vocab_dir", None, "Where to write vocabulary files (default: vocab/ next to "
                    "--output_config).")
flags.DEFINE_multi_string("input_path", None, "Read these files instead of train_input_path.")
flags.mark_flag_as_required("output_config")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from easyrank import statistics
    print(statistics.write_filled_config(FLAGS.pipeline_config_path, FLAGS.output_config, FLAGS.vocab_dir,
                                         FLAGS.edit_config_json, FLAGS.input_path))
    return 0


def check_config():
    """The config errors reported before TensorFlow is imported (console.run)."""
    from easyrank.config import load_config
    load_config(FLAGS.pipeline_config_path, FLAGS.edit_config_json, allow_unfilled=True)


if __name__ == "__main__":
    console.run(main, check_first=check_config)
