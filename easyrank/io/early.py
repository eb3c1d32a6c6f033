"""Reading a file before TensorFlow is imported: the config, which the CLIs check first.

A local path (no scheme) is read with Python's own I/O, so that a bad config is reported
in a fraction of a second instead of after TensorFlow's 4-5 s import (console.run,
issue 23); any other scheme goes through files.read_bytes (tf.io.gfile), importing it.
The same for a local directory that is a file (check_local_directory).
"""

import os


def read_bytes(path):
    """The bytes of the file at `path`; OSError whose text is one line saying why not."""
    if "://" not in path:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise OSError(f"{path}; {e.strerror or type(e).__name__}") from None
    import tensorflow as tf

    from easyrank.io import files, schemes
    try:
        return files.read_bytes(path)
    except (OSError, tf.errors.OpError) as e:
        raise OSError(schemes.first_line(e)) from None


def not_a_directory(path, field):
    """The ConfigError of a directory path that is a file (preflight.check_tensorflow_path's)."""
    from easyrank.errors import ConfigError
    return ConfigError(f"{path!r} exists and is not a directory.", path=field)


def check_local_directory(path, field):
    """Raises not_a_directory() when local `path` (no scheme) is a file, before TensorFlow is
    imported; other schemes are left to preflight.check_tensorflow_path."""
    if path and "://" not in path and os.path.exists(path) and not os.path.isdir(path):
        raise not_a_directory(path, field)


def check_output_is_not_an_input(output_path, files):
    """ConfigError when --output_path is one of the local input `files`: scoring would replace them."""
    from easyrank.errors import ConfigError
    target = os.path.realpath(output_path)
    for path in files:
        if "://" not in path and os.path.realpath(path) == target:
            raise ConfigError(f"{output_path!r} is also an input file (--input_path): writing the "
                              "scores would replace the rows being scored. Write them to another "
                              "file.", path="--output_path")


def local_files(patterns):
    """The local files that `patterns` (paths or globs, no scheme) name, found with Python's glob
    before TensorFlow is imported; patterns with a scheme are left out."""
    import glob
    found = []
    for pattern in patterns:
        if "://" not in pattern:
            found += glob.glob(pattern) if glob.has_magic(pattern) else [pattern]
    return found
