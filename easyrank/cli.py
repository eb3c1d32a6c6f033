"""Shared command-line plumbing: flags, logging, and one-paragraph errors.

Every CLI exits 0 on success, 2 on a bad config, 3 on bad or missing data,
and 1 on any other failure, printing one readable paragraph to stderr for
the first two instead of a traceback.
"""

import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from easyrank.errors import ConfigError, DataError  # noqa: E402

EXIT_CONFIG, EXIT_DATA, EXIT_OTHER = 2, 3, 1


def define_config_flags():
    flags.DEFINE_string("pipeline_config_path", None, "Path to the text-format .config file.")
    flags.DEFINE_string("edit_config_json", None,
                        'Overrides as JSON, e.g. \'{"train_config.num_epochs": 1}\'.')
    flags.mark_flag_as_required("pipeline_config_path")


def load_pipeline_config():
    from easyrank.config import load_config
    return load_config(flags.FLAGS.pipeline_config_path, flags.FLAGS.edit_config_json)


def run(main):
    """app.run(main) with user errors turned into one paragraph and an exit code."""

    def guarded(argv):
        logging.set_verbosity(logging.INFO)
        import logging as std_logging
        std_logging.getLogger("tensorflow").setLevel(std_logging.WARNING)
        logging.get_absl_handler().use_absl_log_file = False
        try:
            code = main(argv)
        except ConfigError as e:
            from easyrank.config import attach_location
            if "pipeline_config_path" in flags.FLAGS:
                attach_location(e, flags.FLAGS.pipeline_config_path)
            _fail(f"Config error: {e}", EXIT_CONFIG)
        except DataError as e:
            _fail(f"Data error: {e}", EXIT_DATA)
        except Exception as e:  # TensorFlow errors raised by the input pipeline
            message = data_error_message(e)
            if message is None:
                raise
            _fail(f"Data error: {message}", EXIT_DATA)
        sys.exit(code or 0)

    app.run(guarded)


def data_error_message(error):
    """One line describing a TensorFlow data error, or None if it is not one."""
    import tensorflow as tf
    if not isinstance(error, (tf.errors.InvalidArgumentError, tf.errors.NotFoundError,
                              tf.errors.DataLossError)):
        return None
    text = getattr(error, "message", str(error))
    match = re.search(r"(Malformed CSV row.*?)\]?\s*(\[\[|$)", text, re.S)
    if match:
        return match.group(1).replace('\\"', "").strip().rstrip("]")
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return re.sub(r"\s*\[\[.*", "", first)


def _fail(message, code):
    sys.stderr.write(" ".join(message.split()) + "\n")
    sys.stderr.flush()
    sys.exit(code)
