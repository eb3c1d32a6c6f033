"""Damaged checkpoints: found before a restore, named in a data error (issue 29).

A checkpoint whose index cannot be read, or whose data file is missing or shorter than its
index says (a truncated copy, a disk that filled during a copy), is damaged. `damage` finds
that from the index and the data files' sizes without reading the values; a value whose bytes
are there but wrong is found by the restore's checksum (DataLossError, one of DAMAGE_ERRORS).
Resuming falls back to the newest intact checkpoint of model_dir (model_state.restore); a
warm start from a damaged checkpoint is a data error.
"""

import tensorflow as tf

from easyrank.errors import DataError
from easyrank.io import files
from easyrank.training import chunked_restore

# What TensorFlow's checkpoint reads raise for damaged files: a short read of the data file
# (IndexError from CheckpointReader, OutOfRangeError from RestoreV2), a checksum mismatch or
# an unreadable index (DataLossError).
DAMAGE_ERRORS = (IndexError, tf.errors.DataLossError, tf.errors.OutOfRangeError)


def damage(path):
    """Why the checkpoint `path` (a prefix such as model_dir/ckpt-7) is damaged, or None."""
    if not files.exists(path + ".index"):
        return f"{path}.index is missing"
    try:
        files.checkpoint_reader(path)
    except (*DAMAGE_ERRORS, tf.errors.OpError) as e:
        return f"{path}.index cannot be read ({first_line(e)})"
    try:
        entries = chunked_restore.bundle_entries(path)
    except (IndexError, ValueError):  # TF read the index; this parser's limits are not damage
        return None
    ends = {}
    for data_file, entry in entries.values():
        ends[data_file] = max(ends.get(data_file, 0), entry.offset + entry.size)
    for data_file, end in sorted(ends.items()):
        if not files.exists(data_file):
            return f"{data_file} is missing"
        size = files.size(data_file)
        if size < end:
            return f"{data_file} is truncated: {size:,} bytes of the {end:,} its index names"
    return None


def exists(path):
    """Whether any file of the checkpoint `path` is there (its index or a data file)."""
    return files.exists(path + ".index") or bool(files.glob(path + ".data-*"))


def candidates(directory):
    """The checkpoints that the `checkpoint` file of `directory` lists, newest first, of which
    some file is there (tf.train.latest_checkpoint's choice first, when it has one)."""
    state = tf.train.get_checkpoint_state(directory)
    if state is None:
        return []
    listed = list(state.all_model_checkpoint_paths)
    if state.model_checkpoint_path and state.model_checkpoint_path not in listed:
        listed.append(state.model_checkpoint_path)
    return [p for p in reversed(listed) if exists(p)]


def error(path, reason, what):
    """The DataError for a damaged checkpoint `path` read as `what` (e.g. "warm start")."""
    return DataError(f"The checkpoint {path} is damaged: {reason}. {what} cannot read it; "
                     "copy it again from where it was written, or use another checkpoint.")


def first_line(error_):
    text = str(error_).strip()
    return text.splitlines()[0][:300] if text else type(error_).__name__
