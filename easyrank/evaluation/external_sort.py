"""Sorting more records than fit in memory: sorted runs on local disk, merged block by block.

A SortedSpill takes NumPy record arrays whose "key" field is a fixed-width byte
string that sorts in byte order (pack_keys). It sorts each chunk of `chunk_rows`
records and writes it to a temporary file (a run); merged() yields all records in
key order, in blocks. The merge reads every run through a buffer of about
chunk_rows / runs records and emits, each round, the buffered records whose key
is at most the smallest last key of a buffer that has more to read: those can
never be preceded by an unread record. More than MAX_FAN_IN runs are first
merged in passes. At any time it holds about 3 * chunk_rows records in memory
(the chunk, its sort, or the read buffers and one emitted block), whatever
the number of records added.

The runs are local scratch files (tempfile, NumPy tofile/fromfile), not user
paths; they are deleted by close().
"""

import os
import shutil
import tempfile

import numpy as np

MAX_FAN_IN = 128
MIN_READ_ROWS = 1024


def float_key(values):
    """uint64 whose unsigned order is the order of the float64 `values` (-0.0 == 0.0, NaN last)."""
    values = np.asarray(values, np.float64).reshape(-1) + 0.0  # -0.0 + 0.0 is +0.0
    values = np.where(np.isnan(values), np.nan, values)  # one NaN bit pattern
    bits = np.ascontiguousarray(values).view(np.uint64)
    return np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))


def pack_keys(*columns):
    """Byte-string keys ('S{8n}') of uint64 columns, in the lexicographic order of the columns."""
    out = np.empty((len(columns[0]), len(columns)), dtype=">u8")
    for i, column in enumerate(columns):
        out[:, i] = column
    return out.view(f"S{8 * len(columns)}").reshape(-1)


def unpack_keys(keys, count):
    """The uint64 columns of pack_keys(...) keys, as a [rows, count] array."""
    return np.ascontiguousarray(keys).view(">u8").reshape(-1, count).astype(np.uint64)


class SortedSpill:
    """Records added in any order, read back in key order (see the module docstring)."""

    def __init__(self, dtype, chunk_rows, directory=None):
        self.dtype = np.dtype(dtype)
        self.chunk_rows = max(int(chunk_rows), MIN_READ_ROWS)
        self._base = directory
        self._dir = None
        self._pending, self._pending_rows = [], 0
        self._runs, self._made = [], 0
        self.rows = 0

    def add(self, records):
        if not len(records):
            return
        self._pending.append(records)
        self._pending_rows += len(records)
        self.rows += len(records)
        if self._pending_rows >= self.chunk_rows:
            self._write_run([self._sorted_pending()])

    def _sorted_pending(self):
        chunk = np.concatenate(self._pending) if self._pending else np.empty(0, self.dtype)
        self._pending, self._pending_rows = [], 0
        return chunk[np.argsort(chunk["key"], kind="stable")]

    def _write_run(self, blocks):
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="easyrank-eval-", dir=self._base)
        path = os.path.join(self._dir, f"run-{self._made:06d}")
        self._made += 1
        with open(path, "wb") as f:
            for block in blocks:
                block.tofile(f)
        self._runs.append(path)

    @property
    def num_runs(self):
        return len(self._runs)

    def merged(self):
        """Yields the records in key order, in blocks of at most about chunk_rows (one pass)."""
        if not self._runs:  # everything is still in memory
            chunk = self._sorted_pending()
            for start in range(0, len(chunk), self.chunk_rows):
                yield chunk[start:start + self.chunk_rows]
            return
        if self._pending_rows:
            self._write_run([self._sorted_pending()])
        while len(self._runs) > MAX_FAN_IN:
            group, self._runs = self._runs[:MAX_FAN_IN], self._runs[MAX_FAN_IN:]
            self._write_run(_merge(group, self.dtype, self.chunk_rows))
            for path in group:
                os.remove(path)
        yield from _merge(self._runs, self.dtype, self.chunk_rows)

    def close(self):
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._pending, self._runs = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _RunReader:
    def __init__(self, path, dtype, rows):
        self.file = open(path, "rb")  # noqa: SIM115  (closed at its end)
        self.dtype, self.rows = dtype, rows
        self.more = True
        self.buf = np.empty(0, dtype)
        self.fill()

    def fill(self):
        if self.more:
            self.buf = np.fromfile(self.file, self.dtype, count=self.rows)
            if len(self.buf) < self.rows:
                self.more = False
        if not self.more and not len(self.buf):
            self.file.close()


def _merge(paths, dtype, budget_rows):
    """Yields the records of the sorted runs at `paths` in key order, block by block."""
    readers = [_RunReader(p, dtype, max(budget_rows // len(paths), MIN_READ_ROWS)) for p in paths]
    try:
        while True:
            live = [r for r in readers if len(r.buf)]
            if not live:
                return
            limits = [r.buf["key"][-1] for r in live if r.more]
            frontier = min(limits) if limits else None
            parts = []
            for r in live:
                n = len(r.buf) if frontier is None else int(
                    np.searchsorted(r.buf["key"], frontier, side="right"))
                if n:
                    parts.append(r.buf[:n])
                    r.buf = r.buf[n:]
                if not len(r.buf):
                    r.fill()
            block = np.concatenate(parts)
            yield block[np.argsort(block["key"], kind="stable")]
    finally:
        for r in readers:
            r.file.close()
