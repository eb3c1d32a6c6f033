"""Shared command-line plumbing: flags, logging, and one-paragraph errors.

Every CLI exits 0 on success, 2 on a bad config, 3 on bad or missing data
(errors raised by the input pipeline), 4 when a peer of a distributed run is
lost (TF_CONFIG set; docs/distributed.md) and 1 on any other failure, a bug
included (an error raised by model code), printing one readable paragraph to
stderr instead of a traceback; a bug's traceback is kept in a log file that
the paragraph names.

They print easyrank's own lines only (console/logs.py); --tf_log, or an
explicit --verbosity, shows TensorFlow's log messages as well.
"""

import errno
import logging as std_logging
import os
import re
import sys
import tempfile
import traceback

from absl import app, flags, logging

from easyrank.console import logs
from easyrank.errors import ConfigError, DataError

EXIT_CONFIG, EXIT_DATA, EXIT_OTHER = 2, 3, 1
EXIT_CLUSTER = 4

flags.DEFINE_boolean("tf_log", False, "Also show TensorFlow's own log messages (C++ and Python), "
                     "which are hidden by default; an explicit --verbosity does the same.")


def define_config_flags():
    flags.DEFINE_string("pipeline_config_path", None, "Path to the text-format .config file.")
    flags.DEFINE_string("edit_config_json", None,
                        'Overrides as JSON, e.g. \'{"train_config.num_epochs": 1}\'.')
    flags.DEFINE_list("import_modules", [],
                      "Modules to import before building the model, e.g. my_pkg.layers: they "
                      "register the layer classes of custom blocks (docs/custom_layers.md). "
                      "Added to the config's import_modules, whose modules are imported only "
                      "when named here too (or with --trust_config).")
    flags.DEFINE_string("trust_config", None, "Import the modules that this config (the same "
                        "path as --pipeline_config_path) lists in import_modules.")
    flags.mark_flag_as_required("pipeline_config_path")


def check_pipeline_config():
    """The validated config, its import_modules authorized by the flags; imports no TensorFlow
    for a local config whose checks do not need it (run's check_first)."""
    from easyrank.config import load_config
    from easyrank.config.modules import authorize, same_file
    path = flags.FLAGS.pipeline_config_path
    config = load_config(path, flags.FLAGS.edit_config_json)
    authorize(config, flags.FLAGS.import_modules, same_file(flags.FLAGS.trust_config, path), path)
    return config


def load_pipeline_config():
    """The validated config, with --import_modules added to import_modules and all imported."""
    from easyrank.config.modules import import_modules, merge_import_modules
    config = check_pipeline_config()
    merge_import_modules(config, flags.FLAGS.import_modules)
    import_modules(config.import_modules)
    return config


def run(main, fast_exit=False, check_first=None):
    """app.run(main) with user errors turned into one paragraph and an exit code.

    fast_exit: after main succeeds, flush the output and end the process without Python's
    finalization, for a CLI that has closed everything it wrote (the train CLI): deleting
    TensorFlow's traced functions one by one at exit took 2-13 s on 2 cores (issue 23).
    check_first: a function run before TensorFlow is imported (check_pipeline_config), so that
    a bad config fails in a fraction of a second instead of after TensorFlow's 4-5 s import.
    """

    def guarded(argv):
        logging.get_absl_handler().use_absl_log_file = False
        verbosity = flags.FLAGS["verbosity"]
        show_tensorflow = flags.FLAGS.tf_log or verbosity.present
        if show_tensorflow and not verbosity.present:
            logging.set_verbosity(logging.INFO)
        level = std_logging.getLogger("absl").getEffectiveLevel() if verbosity.present else std_logging.INFO
        logs.configure(level, show_tensorflow)
        try:
            if check_first is not None:
                with logs.quiet_if_tensorflow_loads(show_tensorflow):
                    check_first()
            if not show_tensorflow:
                logs.import_tensorflow_quietly()
            code = main(argv)
        except ConfigError as e:
            from easyrank.config import attach_location
            if "pipeline_config_path" in flags.FLAGS:
                attach_location(e, flags.FLAGS.pipeline_config_path)
            _fail(f"Config error: {e}", EXIT_CONFIG)
        except DataError as e:
            _fail(f"Data error: {e}", EXIT_DATA)
        except Exception as e:  # TensorFlow errors raised by the input pipeline
            message = disk_full_message(e)
            if message is not None:
                _fail(f"Disk full: {message}", EXIT_OTHER)
            message = data_error_message(e)
            if message is not None:
                _fail(f"Data error: {message}", EXIT_DATA)
            message = cluster_error_message(e)
            if message is not None:
                _fail(f"Cluster error: {message}", EXIT_CLUSTER)
            if isinstance(e, app.UsageError):
                raise
            _fail(bug_message(e, traceback.format_exc()), EXIT_OTHER)
        if fast_exit:
            std_logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code or 0)
        sys.exit(code or 0)

    app.run(guarded)


_TF_NOISE = [
    r"\{\{function_node [^}]*\}\}\s*",
    r"Error in user-defined function passed to \S+ transformation with iterator: \S+:\s*",
    r"Graph execution error:\s*",
    # The node and its Python stack (TF 2.21 puts blank lines between the frames).
    r"Detected at node [^\n]*(?:\n(?:[ \t]+[^\n]*|(?=\n[ \t]+\S)))*\n?",
    r"\[\[[^\]]*\]\]",
    r"\[Op:\w+\]( name: \S*)?",
    r"assertion failed: ",
    r"<stack traces unavailable>",
]
_HINTS = [
    (r"Could not parse example input", "a record is not a serialized tf.Example: check that the "
                                       "input files are TFRecords of tf.Example"),
    (r"truncated record|corrupted record", "an input TFRecord file is truncated or corrupt"),
]


# TensorFlow's text for an error raised inside a tf.data pipeline: the op that pulls the next
# batch (graph: [[IteratorGetNext]], eager: [Op:IteratorGetNext]), a reduction over a dataset
# (counting rows) or a dataset function.
_INPUT_PIPELINE = (r"IteratorGetNext|ReduceDataset|transformation with iterator|ParseExample|"
                   r"Malformed (CSV row|Parquet row|record)|"
                   # The data checks of feature columns (tf.debugging.Assert in the model's transforms),
                   # worded "<kind> feature 'name': ..." or "<oneof> 'name': ...", whatever the kind.
                   r"assertion failed: \[[a-z]+(?:_[a-z]+)*[ _]feature \\?'")


def data_error_message(error):
    """One line describing a TensorFlow data error, or None if it is not one.

    A data error is a DataLossError (a corrupt file), or an InvalidArgumentError
    or NotFoundError raised by the input pipeline; the same errors raised by
    model code (a shape bug in a layer) are bugs. Keeps TensorFlow's own text
    naming the file, record and key, without the graph node names and Python
    stack it wraps around it.
    """
    import tensorflow as tf
    text = getattr(error, "message", str(error))
    if not (isinstance(error, tf.errors.DataLossError) or (
            isinstance(error, (tf.errors.InvalidArgumentError, tf.errors.NotFoundError))
            and re.search(_INPUT_PIPELINE, text))):
        return None
    match = re.search(r"(Malformed (?:CSV row|Parquet row|record).*?)\]?\s*(\[\[|\n|$)", text, re.S)
    if match:
        return match.group(1).replace('\\"', "").replace('"', "").strip().rstrip("]")
    for pattern in _TF_NOISE:
        text = re.sub(pattern, " ", text)
    text = " ".join(text.replace("\\'", "'").split()).strip(" :") or type(error).__name__
    for pattern, hint in _HINTS:
        if re.search(pattern, text):
            text = f"{hint} ({text})"
    return text[:1000]


def bug_message(error, trace):
    """The paragraph for an unexpected error (a bug); its traceback goes to a log file it names."""
    fd, log = tempfile.mkstemp(prefix="easyrank-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(" ".join(sys.argv) + "\n\n" + trace)
    text = getattr(error, "message", None) or str(error)
    for pattern in _TF_NOISE:
        text = re.sub(pattern, " ", text)
    text = " ".join(text.split())[:600] or "(no message)"
    return (f"Error: {type(error).__name__}: {text}. This is not a known kind of bad config or "
            f"data: most likely a bug in easyrank or in a custom layer. The traceback is in {log}; "
            "please report it with the config.")


def disk_full_message(error):
    """One paragraph for a write that failed because a disk is full (ENOSPC), or None."""
    text = str(error)
    if getattr(error, "errno", None) != errno.ENOSPC and "No space left on device" not in text:
        return None
    where = getattr(error, "filename", None) or ""
    if not where:
        match = re.search(r"(/[^\s:;,'\"]+)", text)
        where = match.group(1) if match else ""
    return (f"no space left on the device{' while writing ' + where if where else ''}. "
            "The run stopped; model_dir keeps its last complete checkpoint, and no export version "
            "is ever left half written. Free space (or set keep_checkpoint_max and export_config.keep "
            "lower) and run again: training resumes from the last checkpoint.")


def cluster_error_message(error):
    """One paragraph for a lost peer of a distributed run, or None if it is not one."""
    import tensorflow as tf
    if not os.environ.get("TF_CONFIG") or not isinstance(error, (
            tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)):
        return None
    text = getattr(error, "message", str(error))
    match = re.search(r"(The following tasks are unhealthy[^:]*:\s*\S+)", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not re.match(
        r"\[\[|File |Detected at node|Graph execution error|The error could be from", line.strip())]
    detail = match.group(1) if match else (lines[-1] if lines else type(error).__name__)
    detail = detail[:400].rstrip(".")
    return (f"{type(error).__name__}: {detail}. A task of the cluster stopped or cannot "
            "be reached, so this task stopped instead of waiting for it. Restart the whole job: "
            "it resumes from the latest checkpoint in model_dir.")


def _fail(message, code):
    # The paragraph is the last line: silence warnings of objects torn down at exit.
    logging.set_verbosity(logging.ERROR)
    std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
    sys.stderr.write(" ".join(message.split()) + "\n")
    sys.stderr.flush()
    sys.exit(code)
