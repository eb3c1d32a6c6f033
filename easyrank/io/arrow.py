"""Parquet's side of the file layer: pyarrow.fs for s3://, gs://, hdfs:// and local paths.

pyarrow resolves a URI to its own file system (S3FileSystem, GcsFileSystem,
HadoopFileSystem, LocalFileSystem), configured the usual way: AWS_* variables or
~/.aws for S3 (AWS_ENDPOINT_URL for an S3-compatible store), Google credentials for
GCS, HADOOP_HOME / CLASSPATH for HDFS. Any other scheme TensorFlow knows (ram://, a
plugin) is read through tf.io.gfile, so every path easyrank can list it can also read.
"""

import fnmatch
import glob as _glob
import posixpath

import pyarrow as pa
import pyarrow.fs as pafs
import tensorflow as tf

from easyrank.io import schemes


def filesystem(path):
    """(pyarrow FileSystem, path inside it) for `path`."""
    if schemes.tensorflow_knows(path) and not schemes.get(path).arrow:
        return _GFILE, path
    return pafs.FileSystem.from_uri(path if "://" in path else posixpath.abspath(path))


def open_input(path):
    """A seekable pyarrow input file of `path`."""
    fs, inner = filesystem(path)
    return fs.open_input_file(inner)


def _uri(path, inner):
    """`inner` (a path inside the file system of `path`) as a URI like `path`."""
    scheme, sep, rest = path.partition("://")
    if not sep or schemes.tensorflow_knows(path) and not schemes.get(path).arrow:
        return inner
    netloc = rest.split("/", 1)[0]
    if scheme.lower() in ("s3", "gs", "gcs"):  # the bucket is the first part of inner
        return f"{scheme}://{inner}"
    return f"{scheme}://{netloc}{inner if inner.startswith('/') else '/' + inner}"


def isfile(path):
    fs, inner = filesystem(path)
    return fs.get_file_info(inner).type == pafs.FileType.File


def glob(pattern):
    """Sorted matches of `pattern`, listing only under its fixed prefix."""
    fs, inner = filesystem(pattern)
    parts = inner.split("/")
    fixed = next(i for i, part in enumerate(parts) if _glob.has_magic(part))
    base = "/".join(parts[:fixed])
    depth = len(parts) - fixed
    selector = pafs.FileSelector(base, allow_not_found=True, recursive=depth > 1)
    found = [info.path for info in fs.get_file_info(selector) if info.type == pafs.FileType.File]
    matched = [p for p in found if len(p.split("/")) == len(parts) and all(
        fnmatch.fnmatchcase(a, b) for a, b in zip(p.split("/")[fixed:], parts[fixed:]))]
    return sorted(_uri(pattern, p) for p in matched)


def identity(path):
    """[size, mtime in ns] of a file from the store's metadata (S3: LastModified)."""
    fs, inner = filesystem(path)
    info = fs.get_file_info(inner)
    return [info.size, info.mtime_ns or 0]


class _GfileHandler(pafs.FileSystemHandler):
    """Read-only pyarrow file system over tf.io.gfile (schemes pyarrow lacks)."""

    def get_type_name(self):
        return "tf.io.gfile"

    def get_file_info(self, paths):
        infos = []
        for path in paths:
            if not tf.io.gfile.exists(path):
                infos.append(pafs.FileInfo(path, pafs.FileType.NotFound))
            elif tf.io.gfile.isdir(path):
                infos.append(pafs.FileInfo(path, pafs.FileType.Directory))
            else:
                infos.append(pafs.FileInfo(path, pafs.FileType.File, size=tf.io.gfile.stat(path).length))
        return infos

    def get_file_info_selector(self, selector):
        base = selector.base_dir.rstrip("/")
        return self.get_file_info([f"{base}/{name.rstrip('/')}" for name in tf.io.gfile.listdir(base)])

    def open_input_file(self, path):
        return pa.PythonFile(tf.io.gfile.GFile(path, "rb"), mode="r")

    def open_input_stream(self, path):
        return self.open_input_file(path)

    def normalize_path(self, path):
        return path

    def _read_only(self, *args, **kwargs):
        raise NotImplementedError("easyrank reads Parquet only")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
    delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only


_GFILE = pafs.PyFileSystem(_GfileHandler())
