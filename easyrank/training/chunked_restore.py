"""Checkpoint restore that does not hold a second copy of the large variables (issue 13).

tf.train.Checkpoint.restore reads every tensor of a checkpoint (one RestoreV2 op) before it
assigns any, and assigning to a table that has been gathered from copies the value (its
variable is in copy-on-read mode), so a restore peaks at about twice the model's state.
RestoreV2 cannot read a row range either: a slice of a tensor saved whole reads the whole
tensor first (tensor_bundle.cc, GetSliceValue).

`restore` therefore restores the large variables (2^24 elements or more, as large tables
and slots are created without a second copy) itself. TF's restore skips them: it does not
restore an object whose update uid is newer than the restore's (checkpoint/restore.py
_single_restore). Each is then written in place, chunk by chunk, from the bytes of its
entry in the checkpoint's data file; the entry's file, offset and size come from the
checkpoint's index, a LevelDB table of BundleEntryProtos. The checkpoint format is
unchanged. A variable stored another way (sliced by a partitioned save, another shape or
dtype) is left to TF's restore and its checks. Like RestoreV2, the chunked read checks the
entry's crc32c (google-crc32c, over the chunks as they are read) and raises DataLossError on
a mismatch.
"""

import struct
import sys

import google_crc32c
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import tensor_bundle_pb2, trackable_object_graph_pb2
from tensorflow.python.framework import ops

# Variables with at least this many elements are read chunk by chunk (as large tables and
# slots are created: easyrank.embeddings.create, embedding_optimizers), 2^22 at a time.
from easyrank.embeddings import CHUNK_ELEMENTS as _CHUNK_ELEMENTS
from easyrank.embeddings import LARGE_ELEMENTS
from easyrank.io import files

_TABLE_MAGIC = 0xdb4775248b80fb57  # LevelDB table footer (tensorflow/core/lib/io/format.h)
_FOOTER_BYTES = 48


def restore(checkpoint, path, large_elements=None, chunk_elements=None):
    """`checkpoint.restore(path)` with each variable of `large_elements` (LARGE_ELEMENTS)
    elements or more read in place, `chunk_elements` (2^22) at a time; returns the load status."""
    large = large_variables(checkpoint, path, large_elements)
    for variable, _ in large:
        variable._update_uid = sys.maxsize  # noqa: SLF001  (TF's restore skips it)
    try:
        status = checkpoint.restore(path)
    finally:
        for variable, _ in large:  # counts as restored by this restore, not by a later one
            variable._update_uid = ops.uid()  # noqa: SLF001
    for variable, location in large:
        read_into(variable, location, chunk_elements)
    return status


def large_variables(root, path, large_elements=None):
    """[(variable, location)] of the variables of `root` with `large_elements` elements or
    more that the checkpoint `path` holds whole, matched to the checkpoint's objects as
    tf.train.Checkpoint matches them (by the names of the object graph's edges)."""
    reader = files.checkpoint_reader(path)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    entries, found, seen, queue = None, [], set(), [(root, 0)]
    while queue:
        obj, node_id = queue.pop(0)
        if node_id in seen:
            continue
        seen.add(node_id)
        node = graph.nodes[node_id]
        if isinstance(obj, tf.Variable):
            keys = [a.checkpoint_key for a in node.attributes if a.name == "VARIABLE_VALUE"]
            if keys and _is_large(obj, large_elements):
                entries = bundle_entries(path) if entries is None else entries
                if fits(obj, entries.get(keys[0])):
                    found.append((obj, entries[keys[0]]))
            continue
        children = tf.train.TrackableView.children(obj)
        queue.extend((children[c.local_name], c.node_id) for c in node.children
                     if c.local_name in children)
    return found


class SavedValues:
    """Assigns variables the values of checkpoint keys (warm start, whose keys are not the
    model's): a large variable in place, chunk by chunk, any other as TF reads it."""

    def __init__(self, path, reader=None, large_elements=None, chunk_elements=None):
        self.path, self.reader = path, reader or files.checkpoint_reader(path)
        self._large, self._chunk, self._entries = large_elements, chunk_elements, None

    def assign(self, variable, key):
        if _is_large(variable, self._large):
            self._entries = bundle_entries(self.path) if self._entries is None else self._entries
            if fits(variable, self._entries.get(key)):
                read_into(variable, self._entries[key], self._chunk)
                return
        variable.assign(self.reader.get_tensor(key))


def _is_large(variable, large_elements):
    shape = variable.shape
    return bool(shape.rank) and shape.is_fully_defined() and \
        shape.num_elements() >= (large_elements or LARGE_ELEMENTS)


def fits(variable, location):
    """Whether `location` (file, BundleEntryProto) holds `variable`'s value whole, as raw bytes."""
    if location is None:
        return False
    entry = location[1]
    dtype = tf.dtypes.as_dtype(entry.dtype)
    shape = [d.size for d in entry.shape.dim]
    return (not entry.slices and dtype == variable.dtype
            and dtype in (tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int32, tf.int64)
            and shape == variable.shape.as_list()
            and entry.size == int(np.prod(shape)) * dtype.size)


def read_into(variable, location, chunk_elements=None):
    """Writes the value at `location` into `variable` (plain or mirrored) in place, rows of
    about `chunk_elements` elements at a time (scatter updates: no copy of the variable)."""
    path, entry = location
    dtype = tf.dtypes.as_dtype(entry.dtype)
    rows, row_shape = variable.shape[0], variable.shape.as_list()[1:]
    row_bytes = int(np.prod(row_shape)) * dtype.size
    step = max(1, (chunk_elements or _CHUNK_ELEMENTS) // max(1, int(np.prod(row_shape))))
    checksum = google_crc32c.Checksum()
    with files.open(path, "rb") as f:
        f.seek(entry.offset)
        for start in range(0, rows, step):
            stop = min(rows, start + step)
            data = f.read((stop - start) * row_bytes)
            if len(data) != (stop - start) * row_bytes:
                raise tf.errors.DataLossError(None, None, f"{path} ends inside a variable")
            checksum.update(data)
            values = np.frombuffer(data, dtype.as_numpy_dtype).reshape([stop - start] + row_shape)
            variable.scatter_update(tf.IndexedSlices(values, tf.range(start, stop)))
    if _masked_crc32c(int.from_bytes(checksum.digest(), "big")) != entry.crc32c:
        raise tf.errors.DataLossError(
            None, None, f"checksum mismatch in {path} for {variable.name}: the checkpoint is "
            "corrupt (the variable is partly overwritten; restore it from another checkpoint)")


def _masked_crc32c(crc):
    """The crc32c as tensor_bundle stores it (tensorflow/core/lib/hash/crc32c.h Mask)."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def bundle_entries(prefix):
    """{checkpoint key: (data file, BundleEntryProto)} of the checkpoint `prefix`; {} when its
    index is not the uncompressed little-endian table this module reads (then TF restores)."""
    with files.open(prefix + ".index", "rb") as f:
        data = f.read()
    if len(data) < _FOOTER_BYTES or struct.unpack("<Q", data[-8:])[0] != _TABLE_MAGIC:
        return {}
    _, position = _handle(data, len(data) - _FOOTER_BYTES)  # the metaindex block, unused
    index, _ = _handle(data, position)
    raw = {}
    try:
        for _, handle in _block(data, index):
            raw.update(_block(data, _handle(handle, 0)[0]))
    except ValueError:  # a compressed block
        return {}
    header = tensor_bundle_pb2.BundleHeaderProto.FromString(raw.pop(b"", b""))
    if header.endianness != header.LITTLE or sys.byteorder != "little":
        return {}
    entries = {}
    for key, value in raw.items():
        entry = tensor_bundle_pb2.BundleEntryProto.FromString(value)
        entries[key.decode("utf-8", "replace")] = (
            f"{prefix}.data-{entry.shard_id:05d}-of-{header.num_shards:05d}", entry)
    return entries


def _block(data, handle):
    """(key, value) pairs of the LevelDB block at `handle` = (offset, size)."""
    offset, size = handle
    if data[offset + size] != 0:  # the block trailer's compression type
        raise ValueError("compressed block")
    block = data[offset:offset + size]
    restarts = struct.unpack("<I", block[-4:])[0]
    position, limit, key = 0, size - 4 * (1 + restarts), b""
    while position < limit:
        shared, position = _varint(block, position)
        unshared, position = _varint(block, position)
        length, position = _varint(block, position)
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        yield key, block[position:position + length]
        position += length


def _handle(data, position):
    offset, position = _varint(data, position)
    size, position = _varint(data, position)
    return (offset, size), position


def _varint(data, position):
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
