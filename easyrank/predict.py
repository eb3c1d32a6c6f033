"""python -m easyrank.predict --saved_model_dir DIR --input_path X --output_path Y

Scores CSV, TFRecord or Parquet files with an exported SavedModel. DIR is a version
directory or an export base directory (the highest version is used). The
input is parsed as described by the pipeline.config saved with the model;
label columns may be absent. Output: a CSV with one column per model output.
"""

from absl import flags

from easyrank import console
from easyrank.io import early

flags.DEFINE_string("saved_model_dir", None, "Export directory (a version or their parent).")
flags.DEFINE_multi_string("input_path", None, "Files (or globs) to score.")
flags.DEFINE_string("output_path", None, "Where to write the scores (CSV).")
flags.DEFINE_integer("batch_size", 1024, "Rows per request to the model.")
flags.mark_flags_as_required(["saved_model_dir", "input_path", "output_path"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from easyrank.io import preflight
    from easyrank.serving import predictor, saved_model
    preflight.check_tensorflow_path(FLAGS.output_path, "output_path", access="write")
    version_dir = saved_model.resolve_version_dir(FLAGS.saved_model_dir)
    count = predictor.predict_file(version_dir, FLAGS.input_path, FLAGS.output_path, FLAGS.batch_size)
    print(f"Scored {count} rows with {version_dir}; wrote {FLAGS.output_path}")
    return 0


def check_first():
    """--output_path among the local inputs, before TensorFlow is imported (predict_file checks
    it again on the files it lists)."""
    early.check_output_is_not_an_input(FLAGS.output_path, early.local_files(FLAGS.input_path))


if __name__ == "__main__":
    console.run(main, check_first=check_first)
