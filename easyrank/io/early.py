"""Reading a file before TensorFlow is imported: the config, which the CLIs check first.

A local path (no scheme) is read with Python's own I/O, so that a bad config is reported
in a fraction of a second instead of after TensorFlow's 4-5 s import (console.run,
issue 23); any other scheme goes through files.read_bytes (tf.io.gfile), importing it.
"""


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
