"""The one file layer: every file operation of easyrank on a user path goes through here.

tf.io.gfile does the work, so the local disk, gs:// and any file system registered with
TensorFlow (a plugin loaded through import_modules, the in-memory ram:// of tests) work
alike; Parquet goes through pyarrow.fs (easyrank/io/arrow.py). What each scheme offers is
in easyrank/io/schemes.py and docs/storage.md. On a scheme only pyarrow knows (s3://
without a TensorFlow plugin) glob, expand, size and identity answer through pyarrow,
for Parquet inputs.

Object stores differ from a disk, and the functions here say how:
- transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED) are retried RETRIES times
  with a doubling pause, then raised;
- write_text / write_bytes make a file visible only when complete: a temporary then a
  rename where rename is atomic, one upload where a single object upload is (gs://);
- publish_dir moves a finished directory into place: one rename where renaming a
  directory is atomic, else a copy file by file with `last` (saved_model.pb) copied last,
  then the source deleted;
- glob and listdir list under the pattern's fixed prefix, never a whole bucket;
- identity tells whether a file changed without relying on local mtimes.
"""

import contextlib
import glob as _glob
import os
import posixpath
import time
import uuid
import zlib

import tensorflow as tf

from easyrank.io import arrow, schemes

RETRIES = 4
RETRY_PAUSE_SECONDS = 0.5
TRANSIENT = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)
_IDENTITY_BYTES = 1 << 20  # head and tail hashed when a store gives no modification time


def retry(function, *args, retries=RETRIES, pause=RETRY_PAUSE_SECONDS, sleep=time.sleep):
    """function(*args), retried after a transient error at most `retries` times."""
    for attempt in range(retries + 1):
        try:
            return function(*args)
        except TRANSIENT:
            if attempt == retries:
                raise
            sleep(pause * 2 ** attempt)


def has_magic(pattern):
    return _glob.has_magic(pattern)


def exists(path):
    return retry(tf.io.gfile.exists, path)


def isdir(path):
    if not retry(tf.io.gfile.isdir, path):
        return False
    if schemes.scheme(path) != "ram":
        return True
    # ram:// matches prefixes: model/ckpt-7 "is a directory" holding ".index" when
    # model/ckpt-7.index exists. A real directory's entries exist under it.
    names = tf.io.gfile.listdir(path)
    return not names or any(tf.io.gfile.exists(posixpath.join(path, n)) for n in names)


def isfile(path):
    return exists(path) and not isdir(path)


def glob(pattern):
    """Sorted matches of `pattern` (TensorFlow lists only under its fixed prefix)."""
    if schemes.needs_arrow(pattern):
        return arrow.glob(pattern)
    return sorted(retry(tf.io.gfile.glob, pattern))


def expand(pattern):
    """The files `pattern` names: its glob matches, or itself when it is an existing file."""
    if has_magic(pattern):
        return glob(pattern)
    if schemes.needs_arrow(pattern):
        return [pattern] if arrow.isfile(pattern) else []
    return [pattern] if isfile(pattern) else []


def listdir(path):
    """Names in directory `path` (no trailing slashes); [] when it does not exist."""
    if not isdir(path):
        return []
    return sorted(name.rstrip("/") for name in retry(tf.io.gfile.listdir, path))


def makedirs(path):
    retry(tf.io.gfile.makedirs, path)


def remove(path, missing_ok=True):
    try:
        retry(tf.io.gfile.remove, path)
    except tf.errors.NotFoundError:
        if not missing_ok:
            raise


def rmtree(path):
    """Deletes directory `path` and everything under it; nothing when it does not exist."""
    try:
        if isdir(path):
            retry(tf.io.gfile.rmtree, path)
    except tf.errors.NotFoundError:
        pass


def rename(source, target, overwrite=False):
    """Renames the file `source` (on object stores: a copy, then a delete)."""
    retry(tf.io.gfile.rename, source, target, overwrite)


def copy(source, target, overwrite=False):
    retry(tf.io.gfile.copy, source, target, overwrite)


def open(path, mode="r"):  # noqa: A001 - the layer's counterpart of the builtin
    """A tf.io.gfile.GFile (text modes read and write str as UTF-8)."""
    return tf.io.gfile.GFile(path, mode)


def read_bytes(path):
    def read():
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    return retry(read)


def read_text(path):
    return read_bytes(path).decode("utf-8")


def vocabulary_lines(path):
    """The entries of a vocabulary file as TensorFlow's TextFileInitializer reads them: lines
    ended by "\\n" only (a form feed, "\\r" alone or U+2028 are part of a value, unlike
    str.splitlines), a trailing "\\r" removed, no entry after a final "\\n". UnicodeDecodeError
    when the file is not UTF-8."""
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


@contextlib.contextmanager
def atomic_writer(path, mode="w"):
    """A file to write that appears at `path` only once complete, when the block ends
    without an error: one upload where a single upload is atomic (gs://), else a
    temporary beside `path` renamed over it."""
    if schemes.get(path).atomic_upload:
        with tf.io.gfile.GFile(path, mode) as f:
            yield f
        return
    temp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with tf.io.gfile.GFile(temp, mode) as f:
            yield f
        rename(temp, path, overwrite=True)
    finally:
        remove(temp)


def write_bytes(path, data):
    """Writes `data` to `path` so that readers see the old or the whole new content."""
    def write():
        with atomic_writer(path, "wb") as f:
            f.write(data)
    retry(write)


def write_text(path, text):
    write_bytes(path, text.encode("utf-8"))


def create_exclusive(path, text, settle_seconds=1.0):
    """Creates file `path` holding `text` unless it exists; whether this call created it.

    Atomic where the store creates only-if-absent (a local disk, NFS v3+: O_EXCL).
    Elsewhere it checks, writes, waits `settle_seconds` and reads back: a writer that
    came after the check but within that time wins, and both callers may see True
    only if the second one wrote after the first read back.
    """
    if schemes.get(path).exclusive_create and not schemes.scheme(path):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return True
    if exists(path):
        return False
    write_text(path, text)
    time.sleep(settle_seconds)
    try:
        return read_text(path) == text
    except tf.errors.NotFoundError:
        return False


def stat(path):
    """tf.io.gfile.stat: length, mtime_nsec (0 where the store keeps none), is_directory."""
    return retry(tf.io.gfile.stat, path)


def identity(path):
    """[size, version] of a file, equal only for the same content.

    version is the modification time in ns where the store keeps one (a local file; a
    gs:// object, whose update time changes with each new generation), else a CRC-32 of
    the first and last MiB ("crc32:...", stores without modification times such as ram://).
    """
    if schemes.needs_arrow(path):  # S3: LastModified
        return arrow.identity(path)
    if not schemes.scheme(path):  # tf.io.gfile.stat keeps whole seconds of a local mtime
        local = os.stat(path)
        return [local.st_size, local.st_mtime_ns]
    info = stat(path)
    if info.mtime_nsec:
        return [info.length, info.mtime_nsec]
    with tf.io.gfile.GFile(path, "rb") as f:
        digest = zlib.crc32(f.read(_IDENTITY_BYTES))
        if info.length > _IDENTITY_BYTES:
            f.seek(max(info.length - _IDENTITY_BYTES, _IDENTITY_BYTES))
            digest = zlib.crc32(f.read(), digest)
    return [info.length, f"crc32:{digest:08x}"]


def size(path):
    """Bytes of file `path` (also on stores only pyarrow reads)."""
    return arrow.identity(path)[0] if schemes.needs_arrow(path) else stat(path).length


def checkpoint_reader(path):
    """tf.train.load_checkpoint(path), for a checkpoint prefix or a directory.

    A prefix (model_dir/ckpt-7) is opened directly: load_checkpoint asks first whether it
    is a directory, which ram:// answers yes (its directories match by string prefix).
    """
    if exists(path + ".index"):
        return tf.compat.v1.train.NewCheckpointReader(path)
    return tf.train.load_checkpoint(path)


def walk_files(directory):
    """Paths of every file under `directory`, relative to it, sorted."""
    found = []
    root = directory.rstrip("/")
    for parent, _, names in tf.io.gfile.walk(directory):
        relative = parent.rstrip("/")[len(root):].strip("/")
        # exists(): ram:// lists x/assets.extra/y also as ".extra" in x/assets (a prefix match).
        found.extend(posixpath.join(relative, name) if relative else name for name in names
                     if exists(posixpath.join(parent, name)))
    return sorted(found)


def publish_dir(source, target, last=()):
    """Moves the finished directory `source` to `target`, which must not exist.

    Where renaming a directory is atomic (a local disk, HDFS) it is one rename. Elsewhere
    (gs://, s3://, ram://) every file is copied, the names in `last` after all others, and
    `source` is then deleted: a reader of `target` sees the files of `last` only once
    everything else is there.
    """
    if schemes.get(source).atomic_dir_rename:
        retry(tf.io.gfile.rename, source, target, False)
        return
    names = walk_files(source)
    ordered = [n for n in names if posixpath.basename(n) not in last] + \
              [n for n in names if posixpath.basename(n) in last]
    for name in ordered:
        makedirs(posixpath.dirname(posixpath.join(target, name)))
        copy(posixpath.join(source, name), posixpath.join(target, name), overwrite=True)
    rmtree(source)


def copy_tree(source, target):
    """Copies every file under directory `source` to the same place under `target`."""
    for name in walk_files(source):
        makedirs(posixpath.dirname(posixpath.join(target, name)))
        copy(posixpath.join(source, name), posixpath.join(target, name), overwrite=True)


def retire_dir(path, hidden, first=()):
    """Deletes directory `path` so that no reader sees it half deleted as it was.

    Where renaming a directory is atomic, `path` is renamed to `hidden` (a name readers
    ignore) and then deleted; elsewhere the files named in `first` are deleted before
    the rest, so a reader sees `path` without them and then not at all.
    """
    if not isdir(path):
        return
    if schemes.get(path).atomic_dir_rename:
        try:
            retry(tf.io.gfile.rename, path, hidden, False)
        except tf.errors.NotFoundError:
            return
        rmtree(hidden)
        return
    for name in walk_files(path):
        if posixpath.basename(name) in first:
            remove(posixpath.join(path, name))
    rmtree(path)


def abspath(path):
    """os.path.abspath for a local path; a URL (gs://...) unchanged."""
    return path if schemes.scheme(path) else os.path.abspath(path)


def join(*parts):
    return os.path.join(*parts)
