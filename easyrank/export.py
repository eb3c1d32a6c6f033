"""python -m easyrank.export --pipeline_config_path CFG --export_dir DIR [--checkpoint_path P]

Exports a checkpoint (default: the latest in model_dir) to <export_dir>/<version>/,
the layout TF Serving watches (easyrank/serving/saved_model.py), and prints its path.
"""

from absl import flags

from easyrank import console
from easyrank.io import early

console.define_config_flags()
flags.DEFINE_string("export_dir", None, "Base directory; the model goes to <export_dir>/<version>/.")
flags.DEFINE_string("checkpoint_path", None, "A checkpoint file or directory (default: model_dir).")
flags.DEFINE_string("model_dir", None, "Overrides the config's model_dir.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = console.load_pipeline_config()
    model_dir = FLAGS.model_dir or config.model_dir
    from easyrank.io import preflight
    from easyrank.serving import exporters, saved_model
    from easyrank.training import model_state
    export_dir = FLAGS.export_dir or exporters.default_export_dir(config, model_dir)
    # A file or an unwritable place: before the restore.
    preflight.check_tensorflow_path(export_dir, "--export_dir" if FLAGS.export_dir else "export_config.export_dir",
                                    write=True)
    model = model_state.restore_model(config, FLAGS.checkpoint_path or model_dir, FLAGS.pipeline_config_path)
    export = saved_model.export_model
    if config.model_config.HasField("retrieval"):  # three SavedModels (docs/retrieval.md)
        from easyrank.serving.retrieval_export import export_retrieval as export
    print(export(model, config, export_dir, keep=config.export_config.keep))
    return 0


def check_config():
    """The config errors reported before TensorFlow is imported (console.run), and a local
    --export_dir that is a file (main checks it again, with any scheme)."""
    console.check_pipeline_config()
    early.check_local_directory(FLAGS.export_dir, "--export_dir")


if __name__ == "__main__":
    console.run(main, check_first=check_config)
