"""Checks before training: each path is on a store that can do what the run needs of it.

One paragraph naming the config field and the path (a ConfigError, exit 2) when a path is
on a scheme no layer knows, on one TensorFlow lacks where TensorFlow must read or write
(an s3:// model_dir on stock TensorFlow), or under a directory this process cannot write
(a read-only store, refused credentials, a missing bucket).
"""

import uuid

import tensorflow as tf

from easyrank.errors import ConfigError
from easyrank.io import early, files, schemes


def _ways_out(name):
    return (f"Ways out: mount the store and give the local path (gcsfuse, s3fs, an HDFS NFS gateway); "
            f"use gs://, which stock TensorFlow reads and writes; or load a TensorFlow file system "
            f"plugin for {name}:// with --import_modules (a module of yours that calls "
            f"tf.experimental.register_filesystem_plugin on the plugin's .so).")


def check_tensorflow_path(path, field, write=False, access=None):
    """ConfigError naming `field` unless TensorFlow can use `path` (and write under it).

    write: `path` is a directory that is created and written (a probe file written and
    deleted), so a read-only store or refused credentials stop the run here.
    access: what TensorFlow does with `path`, for the message ("read" or "write").
    """
    name = schemes.scheme(path)
    if not schemes.tensorflow_knows(path):
        known = schemes.SCHEMES.get(name)
        where = (f"On {name}:// only Parquet inputs can live (read through pyarrow); "
                 if known and known.arrow else
                 f"No easyrank file layer knows {name}:// (a typo in the scheme?). " if not known else "")
        raise ConfigError(
            f"{path!r} is on {name}://, a file system TensorFlow {tf.__version__} lacks "
            f"(it knows {', '.join(s + '://' for s in tf.io.gfile.get_registered_schemes() if s)} and "
            f"local paths), and TensorFlow must {access or ('write' if write else 'read')} this path. "
            f"{where}{_ways_out(name)}", path=field)
    if not write:
        return
    probe = files.join(path, f".easyrank-write-probe-{uuid.uuid4().hex[:8]}")
    try:
        if files.exists(path) and not files.isdir(path):
            raise early.not_a_directory(path, field)
        files.makedirs(path)
        files.write_bytes(probe, b"")
        files.remove(probe)
    except ConfigError:
        raise
    except (tf.errors.OpError, OSError) as e:
        raise ConfigError(
            f"cannot write under {path!r}: {schemes.first_line(e)}. The directory must be writable with "
            f"this process's credentials: check that the bucket or directory exists, that the "
            f"credentials are present and allowed to write (for gs://, "
            f"GOOGLE_APPLICATION_CREDENTIALS or the machine's service account), and that the "
            f"store is not read-only.", path=field) from None


def check_readable(pattern, field, parquet=False):
    """ConfigError naming `field` unless `pattern` is on a store that can read it.

    Parquet is read through pyarrow, every other input through TensorFlow.
    """
    if parquet and (schemes.tensorflow_knows(pattern) or schemes.get(pattern).arrow):
        return
    if not parquet and not schemes.tensorflow_knows(pattern) and schemes.get(pattern).arrow:
        name = schemes.scheme(pattern)
        raise ConfigError(
            f"{pattern!r} is on {name}://, which TensorFlow {tf.__version__} cannot read; only "
            f"Parquet inputs (data_config.format: PARQUET) are read from {name}:// (through "
            f"pyarrow). Convert the input to Parquet, or: {_ways_out(name)}", path=field)
    check_tensorflow_path(pattern, field)
