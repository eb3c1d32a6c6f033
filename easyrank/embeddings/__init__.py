"""Embedding tables: the one place to start from (issue 28).

What an embedding table is, and where each part of it lives:

- size and memory: `memory.py` (the rows x embedding_dim x (1 + slots) estimate checked
  against the machine, the ps tasks or a GPU); the rows of each feature kind's table and what
  they mean come from its kind module (easyrank/config/feature_kinds/).
- initialisation policy: `initializers.py` (TableOptions: uniform, zeros under FTRL,
  truncated normal, pretrained rows; `random_rows` for re-initialised rows).
- creation: `create.py` (a large table is allocated unwritten and filled in chunks).
- dynamic rows (admission, eviction, the id mapping): easyrank/features/dynamic_table.py; its
  optimizer slots: easyrank/training/dynamic_slots.py; warm starting it:
  easyrank/training/warm_start_dynamic.py.
- row-wise optimizers and their slots: easyrank/training/embedding_optimizers.py.
- chunked restore of large tables and slots: easyrank/training/chunked_restore.py.
- warm starting rows by meaning (vocabulary keys, identity ids): easyrank/training/embedding_rows.py.

This module imports nothing (no TensorFlow): the config checks use `memory` without it.
"""

# Tables, optimizer slots and restored variables with at least this many elements are
# created unwritten and filled, or read, chunk by chunk (create.py, embedding_optimizers.py,
# chunked_restore.py), so that none of them exists twice in memory.
LARGE_ELEMENTS = 1 << 24
# Elements written or read at once in those chunks (16 MiB of float32).
CHUNK_ELEMENTS = 1 << 22
