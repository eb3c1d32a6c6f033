"""Collision-free embedding rows for id spaces that do not fit a table (issue 18).

A `DynamicRows` maps raw ids (strings, or integers written as strings) to rows
1..capacity of an embedding table with capacity + 1 rows through an in-graph
MutableHashTable; row 0 is the shared default row of every id without a row.

Training calls `update(ids)` once per step with all the ids of the batch, before
the forward pass (the train step, through `FeatureGroups.update_dynamic_tables`
and `update_mappings`):

1. a hit bumps its row's score: its look-up count (LFU) or the step (LRU);
2. a miss is counted in a count-min sketch; with `admit_after` sightings it is
   admitted (admit_after 1: at once, no sketch);
3. when fewer rows are free than ids to admit, the max(needed, evict_fraction x
   capacity) rows of lowest score are freed (ties: lower row first) and their
   ids leave the mapping;
4. admitted ids pop rows off the free stack, in the order of their first
   occurrence in the batch; each popped row is re-initialised, in the table and
   in every optimizer slot of the table (`attach`), and starts with the id's
   sighting count (LFU) or the step (LRU) as score.

With `decay_every` N > 0, every N-th update first multiplies the LFU scores of
the occupied rows and the sketch's counters by `decay` (rounded down), so that
ids popular long ago are forgotten: a score is a decayed count of look-ups.

A step costs O(unique ids of the batch); an eviction scans the capacity once
and frees at least evict_fraction x capacity rows, so its cost is amortised,
and so is a decay (O(capacity + sketch) every N steps).

Under ParameterServerStrategy the mapping, the sketch, the scores, the free
stack, the table and its optimizer slots all live on one ps task (`colocated`;
a dynamic table is never partitioned), and each worker's update runs as one
critical section there (a tf.CriticalSection: MutexLock on the ps), so
concurrent workers never pop one free row twice nor admit an id twice.

Under MultiWorkerMirroredStrategy every worker keeps its own copy of the state;
`update_mappings` all-gathers the ids of every replica of the cluster first
(features/id_gather.py), so every worker applies the same update, and reused rows
are drawn from a stateless seed of (table, step): the copies stay identical.

`lookup(ids)` only reads the mapping: the layer calls, evaluation and the
exported model (its signatures and every traced function in it) never insert or
count. The sketch, scores, free stack and mapping are checkpointed
(and exported) with the model; their size is set by the capacity.
"""

import contextlib
import zlib

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import resource_variable_ops

from easyrank.features import id_gather

_NEVER = np.iinfo(np.int64).max  # score of free rows and of the default row: never evicted


def as_keys(values):
    """Ids of any dtype and shape -> flat tf.string keys."""
    values = tf.reshape(tf.convert_to_tensor(values), [-1])
    return values if values.dtype == tf.string else tf.strings.as_string(values)


class DynamicRows(tf.Module):
    """The id -> row mapping of one dynamic table, with admission and eviction.

    Args:
      capacity: rows for admitted ids (the table has capacity + 1 rows).
      admit_after: sightings before an id gets its own row (>= 1).
      eviction: "LFU" or "LRU".
      evict_fraction: rows freed at once when full, as a fraction of capacity.
      sketch_width, sketch_depth: the count-min sketch of ids not yet admitted
        (width 0: 4 x capacity).
      decay_every, decay: every `decay_every` updates (0: never) the LFU scores and
        the sketch's counts are multiplied by `decay` in [0, 1), rounded down.
    """

    def __init__(self, capacity, admit_after=1, eviction="LFU", evict_fraction=0.01,
                 sketch_width=0, sketch_depth=2, decay_every=0, decay=0.5, name="dynamic_rows"):
        super().__init__(name=name)
        self.capacity = int(capacity)
        self.admit_after = int(admit_after)
        self.lfu = eviction == "LFU"
        self.evict_batch = max(1, int(np.ceil(evict_fraction * self.capacity)))
        self.sketch_width = int(sketch_width or 4 * self.capacity)
        self.sketch_depth = int(sketch_depth)
        self.decay_every, self.decay = int(decay_every), float(decay)
        self._seed = zlib.crc32(name.encode("utf-8"))
        rows = self.capacity + 1
        self._parameter_server = _under_parameter_server_strategy()
        # First: a scalar, never partitioned; everything else is colocated with it.
        self.num_free = tf.Variable(tf.constant(self.capacity, tf.int64), trainable=False,
                                    name="num_free")
        with self.colocated(), self._state_device():
            self.mapping = tf.lookup.experimental.MutableHashTable(
                tf.string, tf.int64, default_value=-1, name=f"{name}_mapping")
            # Concurrent workers of a parameter-server run update one at a time.
            self._lock = tf.CriticalSection(name=f"{name}_lock") if self._parameter_server else None
            self._create_state(rows)
        self._table = None
        self._initializer = None
        self._slots = []  # (slot variable, its initial row)

    def _create_state(self, rows):
        self.row_keys = _worker_variable(tf.fill([rows], ""), name="row_keys")
        self.row_scores = tf.Variable(tf.fill([rows], tf.constant(_NEVER, tf.int64)),
                                      trainable=False, name="row_scores")
        # A stack of free rows; the top (num_free - 1) is popped first: 1, 2, 3, ... at the start.
        self.free_rows = tf.Variable(tf.range(self.capacity, 0, -1, dtype=tf.int64),
                                     trainable=False, name="free_rows")
        self.clock = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="clock")
        self.admitted = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="admitted")
        self.evicted = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="evicted")
        self.sketch = None
        if self.admit_after > 1:
            self.sketch = tf.Variable(tf.zeros([self.sketch_depth * self.sketch_width], tf.int64),
                                      trainable=False, name="sketch")

    def colocated(self):
        """A context whose new variables live with this mapping's state: under
        ParameterServerStrategy on its ps task, unpartitioned (the table and, through the
        optimizer's colocation, its slots); elsewhere a no-op."""
        if not self._parameter_server:
            return contextlib.nullcontext()
        return tf.distribute.get_strategy().extended.colocate_vars_with(self.num_free)

    def _state_device(self):
        return tf.device(self.num_free.device) if self._parameter_server \
            else contextlib.nullcontext()

    @property
    def table(self):
        return self._table

    def attach(self, table, initializer):
        """The embedding variable whose rows this maps, and its row initializer:
        `initializer(shape, seed)` -> fresh rows, a function of the stateless seed [2]."""
        self._table = table
        self._initializer = initializer

    def attach_slots(self, slots):
        """(slot variable, initial row value) pairs of the table's optimizer slots, reset
        with each reused row."""
        self._slots = [(slot, tf.constant(initial)) for slot, initial in slots]

    # ---- look-up (training, evaluation, serving) ----

    def lookup(self, values):
        """Ids (any shape) -> rows of the same shape; ids without a row -> 0."""
        values = tf.convert_to_tensor(values)
        rows = self.mapping.lookup(as_keys(values))
        return tf.reshape(tf.maximum(rows, 0), tf.shape(values))

    # ---- training ----

    @tf.autograph.experimental.do_not_convert
    def update(self, values):
        """Counts, admits and evicts for one training batch of ids (any shape).

        Returns the tensors that end the update's critical section (parameter servers; else
        []): a caller updating several tables runs them one after the other (control
        dependencies), so that two workers never wait for each other's locks."""
        keys, _, counts = tf.unique_with_counts(as_keys(values), out_idx=tf.int64)
        if self._lock is None:
            self._update(keys, counts)
            return []

        def locked():  # the whole read-modify-write sequence, one worker at a time
            self._update(keys, counts)
            return self._state_reads()
        return tf.nest.flatten(self._lock.execute(locked, exclusive_resource_access=False))

    def _update(self, keys, counts):
        clock = self.clock.assign_add(1)
        if self.decay_every:
            tf.cond(clock % self.decay_every == 0, self._decay, tf.no_op)
        rows = tf.reshape(self.mapping.lookup(keys), [-1])
        hit = rows >= 0
        hit_rows = tf.boolean_mask(rows, hit)
        if self.lfu:
            self.row_scores.scatter_add(tf.IndexedSlices(tf.boolean_mask(counts, hit), hit_rows))
        else:
            self.row_scores.scatter_update(tf.IndexedSlices(tf.fill(tf.shape(hit_rows), clock),
                                                            hit_rows))
        new_keys = tf.boolean_mask(keys, ~hit)
        seen = tf.boolean_mask(counts, ~hit)
        if self.sketch is not None:
            seen = self._count(new_keys, seen)
            admit = seen >= self.admit_after
            new_keys, seen = tf.boolean_mask(new_keys, admit), tf.boolean_mask(seen, admit)
        needed = tf.size(new_keys, out_type=tf.int64)
        free = self.num_free.read_value()
        tf.cond(free < needed, lambda: self._evict(needed - free), tf.no_op)
        top = self.num_free.read_value()
        n = tf.minimum(needed, top)
        new_keys, seen = new_keys[:n], seen[:n]
        new_rows = tf.reverse(self.free_rows[top - n:top], [0])
        self.num_free.assign_sub(n)
        self.admitted.assign_add(n)
        self.mapping.insert(new_keys, new_rows)
        self.row_keys.scatter_update(tf.IndexedSlices(new_keys, new_rows))
        score = seen if self.lfu else tf.fill(tf.shape(new_rows), clock)
        self.row_scores.scatter_update(tf.IndexedSlices(score, new_rows))
        self._reset(new_rows)

    def _state_reads(self):
        """A read of every resource an update writes: automatic control dependencies order
        each after the update's writes, so a critical section returning them ends only once
        the whole update is done."""
        state = [self.num_free, self.clock, self.admitted, self.evicted, self.row_keys,
                 self.row_scores, self.free_rows, self.sketch, self._table]
        state += [slot for slot, _ in self._slots]
        return [self.mapping.size()] + [v.read_value() if v.shape.rank == 0 else v.sparse_read([0])
                                        for v in state if v is not None]

    def _decay(self):
        """Multiplies the LFU scores of occupied rows and the sketch's counts by `decay`."""
        def scaled(values):
            return tf.cast(tf.floor(tf.cast(values, tf.float64) * self.decay), tf.int64)

        if self.lfu:
            scores = self.row_scores.read_value()
            self.row_scores.assign(tf.where(scores < _NEVER, scaled(scores), scores))
        if self.sketch is not None:
            self.sketch.assign(scaled(self.sketch.read_value()))
        return tf.no_op()

    def _count(self, keys, counts):
        """Adds counts to the sketch; returns each key's estimate (min over the sketch's rows)."""
        n = tf.size(keys, out_type=tf.int64)
        # Flat positions d * width + hash_d(key): [n, depth] (a flat sketch, as MirroredVariable
        # has scatter_add but no scatter_nd_add).
        index = tf.stack([
            tf.strings.to_hash_bucket_strong(keys, self.sketch_width, [depth, 18])
            + depth * self.sketch_width for depth in range(self.sketch_depth)], axis=1)
        updates = tf.broadcast_to(counts[:, None], [n, self.sketch_depth])
        self.sketch.scatter_add(tf.IndexedSlices(tf.reshape(updates, [-1]),
                                                 tf.reshape(index, [-1])))
        return tf.reduce_min(tf.gather(self.sketch, index), axis=1)

    def _evict(self, short):
        """Frees max(short, evict_batch) rows of lowest score (ties: lower row first)."""
        free = self.num_free.read_value()
        occupied = self.capacity - free
        count = tf.minimum(tf.maximum(short, self.evict_batch), occupied)
        _, index = tf.math.top_k(-self.row_scores[1:], k=tf.cast(count, tf.int32))
        rows = tf.cast(index, tf.int64) + 1
        self.mapping.remove(tf.gather(self.row_keys, rows))
        self.row_scores.scatter_update(tf.IndexedSlices(tf.fill(tf.shape(rows), _NEVER), rows))
        # Pushed in reverse, so the row of lowest score is popped first.
        self.free_rows.scatter_update(tf.IndexedSlices(tf.reverse(rows, [0]),
                                                       tf.range(free, free + count)))
        self.num_free.assign_add(count)
        self.evicted.assign_add(count)
        return tf.no_op()

    def _reset(self, rows):
        """Re-initialises `rows` of the table and of its optimizer slots."""
        if self._table is None:
            return
        n = tf.size(rows)
        shape = tf.concat([[n], tf.shape(self._table)[1:]], 0)
        # A stateless seed of (table, step): every worker of a collective strategy draws the
        # same new rows, so their copies of the table stay equal.
        seed = tf.stack([tf.constant(self._seed, tf.int64), self.clock.read_value()])
        self._table.scatter_update(tf.IndexedSlices(
            tf.cast(self._initializer(shape, seed), self._table.dtype), rows))
        for slot, initial in self._slots:
            values = tf.broadcast_to(initial, tf.concat([[n], tf.shape(initial)], 0))
            slot.scatter_update(tf.IndexedSlices(tf.cast(values, slot.dtype), rows))

    def stats(self):
        """{name: tensor} for TensorBoard: occupancy, admissions, evictions, LFU counts."""
        occupied = self.capacity - self.num_free
        stats = {"occupancy": tf.cast(occupied, tf.float32) / self.capacity,
                 "admitted": self.admitted.read_value(), "evicted": self.evicted.read_value()}
        if self.lfu:
            scores = self.row_scores[1:]
            stats["row_counts"] = tf.boolean_mask(scores, scores < _NEVER)
        return stats


class DynamicIndex:
    """A column's index over a DynamicRows: ids -> rows (look-up only), `size` rows."""

    def __init__(self, rows):
        self.rows = rows
        self.size = rows.capacity + 1

    def trackables(self):
        return [self.rows]

    def __call__(self, values):
        return self.rows.lookup(values)


def from_config(message, name):
    """DynamicRows of a DynamicEmbedding message (validated)."""
    eviction = "LRU" if message.eviction == message.LRU else "LFU"
    return DynamicRows(message.capacity, message.admit_after, eviction, message.evict_fraction,
                       message.sketch_width, message.sketch_depth, message.decay_every_steps,
                       message.count_decay, name=name)


def update_mappings(columns, features):
    """Training: one `update` per dynamic table with the ids of all its columns in the batch.

    Under MirroredStrategy the update runs once, in cross-replica context, over the ids of
    every replica (column by column, replica by replica: the global batch's order), so every
    replica reads one mapping, the same as one device would build.
    """
    by_table = {}
    for column in columns:
        index = getattr(column, "index", None)
        if isinstance(index, DynamicIndex):
            by_table.setdefault(id(index.rows), (index.rows, []))[1].append(
                as_keys(column.index_values(features)))
    if not by_table:
        return
    tables = [rows for rows, _ in by_table.values()]
    ids = [parts for _, parts in by_table.values()]

    def update_in_turn(batches):
        # One table after the other: each update's lock is taken once the previous is released.
        done = []
        for rows, batch in zip(tables, batches):
            with tf.control_dependencies(done):
                done = rows.update(batch)

    def update(strategy, per_replica):
        # Column by column, replica by replica: the order of the global batch on one device.
        update_in_turn([tf.concat([v for part in parts
                                   for v in strategy.experimental_local_results(part)], 0)
                        for parts in per_replica])

    def update_gathered(strategy, gathered):
        # Every replica holds the same gathered ids: the first local one updates this worker.
        update_in_turn([strategy.experimental_local_results(ids)[0] for ids in gathered])

    context = tf.distribute.get_replica_context()
    if context is None:  # already cross-replica
        update_in_turn([tf.concat(parts, 0) for parts in ids])
    elif isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
        # Every worker keeps its own mapping: all of them apply the update of the ids of every
        # replica of the cluster (table by table, replica by replica), so the copies stay equal.
        gathered = [id_gather.all_gather_strings(context, tf.concat(parts, 0)) for parts in ids]
        context.merge_call(update_gathered, args=(gathered,))
    else:
        context.merge_call(update, args=(ids,))


def _worker_variable(initial_value, name):
    """A non-trainable variable; under MultiWorkerMirroredStrategy this worker's own (its
    collectives broadcast the initial values of numbers only, not of strings), which every
    worker updates alike."""
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # The class itself, not tf.Variable: bypasses the strategy's variable creator (and
        # belongs to the strategy as the components of its mirrored variables do).
        return resource_variable_ops.ResourceVariable(initial_value, trainable=False, name=name,
                                                      distribute_strategy=strategy)
    return tf.Variable(initial_value, trainable=False, name=name)


def _under_parameter_server_strategy():
    return tf.distribute.has_strategy() and isinstance(
        tf.distribute.get_strategy(), tf.distribute.experimental.ParameterServerStrategy)


def dynamic_tables(columns):
    """{embedding name: DynamicRows} of the columns with a dynamic index."""
    return {c.embedding_name: c.index.rows for c in columns
            if isinstance(getattr(c, "index", None), DynamicIndex)}
