"""What each storage scheme offers (the checks before training are in preflight.py).

TensorFlow reads and writes every path of a run (inputs other than Parquet, model_dir,
checkpoints, summaries, exports); pyarrow.fs reads Parquet. A scheme is usable by
TensorFlow when tf.io.gfile knows it (tf.io.gfile.get_registered_schemes(): stock
TensorFlow 2.21 has the local disk, gs:// and ram://; s3:// and hdfs:// need a file
system plugin, loaded by a module named in import_modules). docs/storage.md has the
table for users.
"""

import collections

import tensorflow as tf

# tensorflow: stock TensorFlow reads and writes it; arrow: pyarrow.fs reads Parquet from
# it; atomic_dir_rename: renaming a directory is one atomic step (else a copy);
# atomic_upload: a written object appears only once complete; exclusive_create: a file
# can be created only-if-absent (the model_dir lock relies on it); shared: other
# processes (and machines) see the same files.
Scheme = collections.namedtuple("Scheme", [
    "description", "tensorflow", "arrow", "atomic_dir_rename", "atomic_upload", "exclusive_create", "shared"])

SCHEMES = {
    "": Scheme("local disk or a mount", True, True, True, False, True, True),
    "file": Scheme("local disk", True, True, True, False, True, True),
    "gs": Scheme("Google Cloud Storage", True, True, False, True, False, True),
    "s3": Scheme("Amazon S3 and S3-compatible stores", False, True, False, True, False, True),
    "hdfs": Scheme("HDFS", False, True, True, False, False, True),
    "viewfs": Scheme("HDFS federation", False, True, True, False, False, True),
    "ram": Scheme("TensorFlow's in-memory file system (tests)", True, False, False, False, False, False),
}
# A scheme only a TensorFlow plugin knows: assume nothing of it.
_UNKNOWN = Scheme("a TensorFlow file system plugin", False, False, False, False, False, True)


def scheme(path):
    """'gs' for gs://bucket/x, '' for a local path."""
    head, sep, _ = path.partition("://")
    return head.lower() if sep else ""


def get(path):
    return SCHEMES.get(scheme(path), _UNKNOWN)


def tensorflow_knows(path):
    """Whether tf.io.gfile can open `path` (built in, or a plugin loaded by now)."""
    return scheme(path) in tf.io.gfile.get_registered_schemes()


def needs_arrow(path):
    """Whether `path` must be listed and read with pyarrow (TensorFlow lacks its scheme)."""
    return not tensorflow_knows(path) and get(path).arrow


def first_line(error):
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0].rstrip(".") if text.strip() else type(error).__name__
