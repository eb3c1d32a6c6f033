"""What the command-line tools print: easyrank's own lines, and TensorFlow's only on request.

easyrank's modules log to `logging.getLogger(__name__)` (the "easyrank" logger
tree), which gets its own short-format handler on stderr. TensorFlow talks
through four channels, each silenced where it starts unless --tf_log (or an
explicit --verbosity) asks for it:

- its C++ logging: TF_CPP_MIN_LOG_LEVEL=2 (errors only) before TensorFlow loads;
- C++ messages written before absl::InitializeLog() while TensorFlow's shared
  libraries load and the devices are probed (oneDNN notice, CUDA stub and cuInit
  errors on a machine without a GPU): they ignore every log level, so stderr is
  held back for the import and device probe only, and shown if either fails;
- Python modules that log through absl (checkpoint sharding, signature input
  renaming, untraced functions, fingerprints): absl's verbosity at WARNING (its
  flag, not the "absl" logger's level, which TensorFlow's SavedModel code resets);
- Python modules that log through the "tensorflow" logger (tf_keras' saving and
  callback warnings): that logger at ERROR.
"""

import contextlib
import logging
import os
import sys
import tempfile

from absl import logging as absl_logging

from easyrank.errors import ConfigError

EASYRANK_LOGGER = "easyrank"


class _Formatter(logging.Formatter):
    """`HH:MM:SS message`, with the level named for warnings and errors."""

    def format(self, record):
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname}: {text}"
        return f"{self.formatTime(record, '%H:%M:%S')} {text}"


def configure(level=logging.INFO, show_tensorflow=False):
    """Routes easyrank's lines to stderr at `level`; TensorFlow's stay quiet unless shown."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    own = logging.getLogger(EASYRANK_LOGGER)
    own.handlers[:] = [handler]
    own.setLevel(level)
    own.propagate = False
    if show_tensorflow:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        logging.getLogger("tensorflow").setLevel(logging.NOTSET)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def import_tensorflow_quietly():
    """Imports TensorFlow and probes its devices with stderr held back (replayed on failure)."""
    if "tensorflow" in sys.modules:
        return
    with _held_stderr():
        import tensorflow as tf
        tf.config.list_physical_devices()


@contextlib.contextmanager
def quiet_if_tensorflow_loads(show_tensorflow=False):
    """For a step before import_tensorflow_quietly that may import TensorFlow (a config whose
    checks need it, or read through tf.io.gfile): held back and probed as there, unless shown.
    A ConfigError the step raises drops what TensorFlow wrote: the error's paragraph is the output."""
    if show_tensorflow or "tensorflow" in sys.modules:
        yield
        return
    with _held_stderr(drop=(ConfigError,)):
        yield
        if "tensorflow" in sys.modules:
            sys.modules["tensorflow"].config.list_physical_devices()


@contextlib.contextmanager
def _held_stderr(drop=()):
    """File descriptor 2 goes to a temporary file; its text is written back if the body raises
    (an error of the types `drop` excepted)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except drop:
            raise
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            held.seek(0)
            os.write(2, held.read())
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
