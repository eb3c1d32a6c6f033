"""Warm start of dynamic embedding tables: the rows together with the ids they belong to.

A dynamic table's rows mean nothing without its state (features/dynamic_table.py):
the id -> row mapping (a MutableHashTable, not a tf.Variable), each row's id and
score, the free-row stack, the admission sketch and the counters. Warm start
(training/warm_start.py) hands each dynamic table of the new model to `plan`,
which finds the checkpoint's table of the same embedding name (after
fine_tune_renames) and its state through the checkpoint's object graph (the
state object's `_table` edge), never by its position among the lookup tables.

- Same capacity: the table, the mapping and every state variable are copied
  as they are (optimizer slots too, with fine_tune_optimizer_state), so the
  warm-started model predicts exactly what the checkpoint's model predicted.
- Another capacity: the ids of the highest scores (LFU counts or LRU steps;
  ties: lower row first) that fit get rows 1..k in that order, with their
  trained rows and scores; the default row 0 carries over; slots start fresh.
- The checkpoint's table was not dynamic (hashed: its rows are buckets), or a
  dynamic table becomes a hashed one: re-initialised, with a note.

Everything is read and checked in `plan`; `apply` writes.
"""

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from easyrank.errors import ConfigError

_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_MAPPING_KEYS, _MAPPING_VALUES = "/mapping/.ATTRIBUTES/table-keys", "/mapping/.ATTRIBUTES/table-values"
_STATE = ("num_free", "row_keys", "row_scores", "free_rows", "clock", "admitted", "evicted",
          "sketch")
_NEVER = np.iinfo(np.int64).max


def old_states(reader):
    """{checkpoint key of a dynamic table: checkpoint key prefix of its state} of a checkpoint."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))

    def value_key(node_id):
        return next((a.checkpoint_key for a in graph.nodes[node_id].attributes
                     if a.name == "VARIABLE_VALUE"), None)

    states = {}
    for node in graph.nodes:
        children = {c.local_name: c.node_id for c in node.children}
        if not {"_table", "mapping", "row_keys"} <= children.keys():
            continue
        table, row_keys = value_key(children["_table"]), value_key(children["row_keys"])
        if table and row_keys:
            states[table] = row_keys[:-len("/row_keys" + _SUFFIX)]
    return states


def state_keys(dynamic_tables, model_keys):
    """({table checkpoint key: (name, DynamicRows)}, the keys of their state variables) of
    the new model (model_keys: {checkpoint key: variable})."""
    by_id = {id(v): k for k, v in model_keys.items()}
    tables, states = {}, set()
    for name, rows in dynamic_tables.items():
        if id(rows.table) in by_id:
            tables[by_id[id(rows.table)]] = (name, rows)
        for attribute in _STATE:
            variable = getattr(rows, attribute, None)
            if variable is not None and id(variable) in by_id:
                states.add(by_id[id(variable)])
    return tables, states


def plan(rows, reader, old_key, old_prefix, describe):
    """(carried state or None, note) for the new table of `rows` from the checkpoint's table
    `old_key` whose state is at `old_prefix` (None: it was not dynamic). The note is None when
    everything is copied unchanged; carried state None means "keep the fresh table"."""
    old_table = reader.get_variable_to_shape_map()[old_key]
    if list(old_table[1:]) != rows.table.shape.as_list()[1:]:
        raise ConfigError(f"cannot warm start {describe}: the embedding width changed; rename "
                          "the embedding or exclude it with fine_tune_exclude.",
                          path="train_config.fine_tune_checkpoint")
    if old_prefix is None:
        return None, ("re-initialised: it was not a dynamic table in the checkpoint, so its "
                      "rows held hash buckets, not ids")
    old = {name: reader.get_tensor(f"{old_prefix}/{name}{_SUFFIX}") for name in _STATE
           if reader.has_tensor(f"{old_prefix}/{name}{_SUFFIX}")}
    old["keys"] = reader.get_tensor(old_prefix + _MAPPING_KEYS)
    old["values"] = reader.get_tensor(old_prefix + _MAPPING_VALUES)
    missing = [n for n in _STATE[:-1] if n not in old]
    if missing:
        raise ConfigError(f"cannot warm start {describe}: the checkpoint holds its mapping but "
                          f"not its {', '.join(missing)}; exclude the table with "
                          "fine_tune_exclude to re-initialise it.",
                          path="train_config.fine_tune_checkpoint")
    old_capacity = old_table[0] - 1
    if old_capacity == rows.capacity:
        return old, None
    return _resized(rows, old, old_key, reader), None


def _resized(rows, old, old_key, reader):
    """The state of a table of another capacity: the best-scored ids first, in rows 1..k."""
    values = old["values"].astype(np.int64)
    scores = old["row_scores"][values]
    order = np.lexsort((values, -scores))  # highest score first; ties: lower row first
    kept, kept_keys = values[order][:rows.capacity], old["keys"][order][:rows.capacity]
    k = len(kept)
    table = rows.table.numpy()
    old_table = reader.get_tensor(old_key)
    table[0] = old_table[0]
    table[1:k + 1] = old_table[kept]
    new = {"table": table, "keys": kept_keys, "values": np.arange(1, k + 1)}
    new["row_keys"] = rows.row_keys.numpy()
    new["row_keys"][1:k + 1] = kept_keys
    new["row_scores"] = np.full([rows.capacity + 1], _NEVER, np.int64)
    new["row_scores"][1:k + 1] = old["row_scores"][kept]
    new["free_rows"] = np.arange(rows.capacity, 0, -1, dtype=np.int64)
    new["num_free"] = np.int64(rows.capacity - k)
    new["clock"], new["admitted"] = old["clock"], old["admitted"]
    new["evicted"] = old["evicted"] + len(values) - k
    if rows.sketch is not None and old.get("sketch") is not None \
            and old["sketch"].shape == tuple(rows.sketch.shape):
        new["sketch"] = old["sketch"]
    new["note"] = (f"resized from {len(old['row_keys']) - 1} to {rows.capacity} rows: kept "
                   f"{k} of {len(values)} ids with their rows and counts, optimizer slots fresh")
    return new


def note(carried):
    return carried.get("note") if carried else None


def apply(rows, carried, saved, old_key):
    """Writes a planned state into the new table (saved: chunked_restore.SavedValues)."""
    if "table" in carried:
        rows.table.assign(carried["table"])
    else:
        saved.assign(rows.table, old_key)
    for name in _STATE:
        variable = getattr(rows, name, None)
        if variable is None:
            continue
        if name in carried and tuple(np.shape(carried[name])) == tuple(variable.shape):
            variable.assign(carried[name])
        elif name == "sketch":  # admission counting changed: it starts over
            variable.assign(tf.zeros_like(variable))
    keys, _ = rows.mapping.export()
    rows.mapping.remove(keys)
    rows.mapping.insert(tf.constant(carried["keys"], tf.string),
                        tf.constant(np.asarray(carried["values"], np.int64)))
