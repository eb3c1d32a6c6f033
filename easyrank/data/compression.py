"""Integrity of gzip inputs: a truncated or corrupt .gz file is a data error.

TensorFlow's gzip readers return the rows decoded so far when a stream ends
early, so a cut file would silently train or evaluate on fewer rows. Each .gz
input is therefore decompressed once (zlib, output discarded) before it is
read, which checks that every gzip member ends and its CRC-32 and length
match. A file that passed is remembered by (path, size, mtime) for the life
of the process, so periodic evaluations do not check it again. The cost is one
extra decompression (about 0.03 s for census' 2.3 MB train.csv.gz).
"""

import zlib

import tensorflow as tf

from easyrank.errors import DataError
from easyrank.io import files, schemes

_CHUNK = 1 << 20
_verified = set()


def is_gzip(path):
    return path.endswith(".gz")


def verify_gzip(path):
    """Raises DataError when the gzip file `path` is truncated or corrupt."""
    try:
        key = (path, *files.identity(path))
    except (OSError, tf.errors.OpError) as e:
        raise DataError(f"Cannot read {path}: {schemes.first_line(e)}.") from None
    if key in _verified:
        return
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    member_open = False  # a gzip member began and has not ended yet
    offset = 0
    try:
        with files.open(path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                offset += len(chunk)
                while chunk:
                    if not member_open and not chunk.strip(b"\0"):
                        break  # zero padding after the last member (tape and block devices)
                    member_open = True
                    decompressor.decompress(chunk, _CHUNK)
                    chunk = decompressor.unconsumed_tail
                    if decompressor.eof:  # the member ended with a valid CRC; another may follow
                        chunk = decompressor.unused_data  # the input after its end
                        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        member_open = False
    except zlib.error as e:
        raise DataError(f"{path} is not a valid gzip file or is corrupt before byte {offset} ({e}). "
                        "Re-create or re-copy the file.") from None
    except (OSError, tf.errors.OpError) as e:
        raise DataError(f"Cannot read {path}: {schemes.first_line(e)}.") from None
    if member_open:
        raise DataError(f"{path} is truncated: its gzip stream ends early, at byte {key[1]}, "
                        "so rows are missing. Re-create or re-copy the file.")
    _verified.add(key)
