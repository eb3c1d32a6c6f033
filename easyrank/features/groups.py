"""Feature groups: the columns of each group, side by side.

`FeatureGroups` is the model's input layer: raw features in, one GroupOutput
per group out. It owns the embedding tables (one per embedding name).
"""

import collections
import contextlib
import functools

import tensorflow as tf
import tf_keras

from easyrank.embeddings import create, initializers
from easyrank.features import dynamic_table

# concat: [B, sum of widths]; stacked: [B, F, D] or None when widths differ;
# sequence: a SequenceInput for groups with sequence features (then concat and
# stacked are None), else None.
GroupOutput = collections.namedtuple("GroupOutput", ["concat", "stacked", "sequence"],
                                     defaults=(None,))
# query: [B, E] or None (no non-sequence features); keys: [B, T, E']; lengths: [B].
SequenceInput = collections.namedtuple("SequenceInput", ["query", "keys", "lengths"])


def shapes_of(outputs):
    """{group: GroupOutput of tensors} -> the same with per-example shapes (as output_shapes()).

    For compiling a backbone against given group tensors rather than a FeatureGroups layer.
    """
    def shape(x):
        return None if x is None else tuple(x.shape[1:])

    shapes = {}
    for name, group in outputs.items():
        sequence = group.sequence
        if sequence is not None:
            sequence = SequenceInput(shape(sequence.query), shape(sequence.keys), ())
        shapes[name] = GroupOutput(shape(group.concat), shape(group.stacked), sequence)
    return shapes


class FeatureGroups(tf_keras.layers.Layer):
    """Raw feature dict -> {group name: GroupOutput}.

    Args:
      columns: {feature name: Column}, e.g. from features.build_columns; columns that
        name the same embedding table agree on its rows and width.
      groups: [(group name, [feature names])].
      embedding_l2: L2 penalty on the embedding rows looked up in a batch.
      default_table_init: how a table whose feature sets no initializer (init_stddev)
        starts: initializers.UNIFORM (uniform(-0.05, 0.05)) or initializers.ZEROS; pretrained rows
        are always the file's.
    """

    def __init__(self, columns, groups, embedding_l2=0.0, default_table_init=initializers.UNIFORM,
                 **kwargs):
        super().__init__(**kwargs)
        initializers.embedding_initializer(default_table_init)  # a bad value fails here
        self._default_table_init = default_table_init
        self._columns = dict(columns)
        self._groups = [(name, list(feature_names)) for name, feature_names in groups]
        self._embedding_l2 = embedding_l2
        self._lookup_tables = [t for c in self._columns.values()
                               for t in (c.index.trackables() if hasattr(c, "index") else [])]
        table_specs = {}
        for column in self._columns.values():
            spec = column.table_spec()
            if spec is not None:
                name, rows, dim = spec
                table_specs.setdefault(name, (rows, dim, column))
        self._table_specs = table_specs

    def build(self, input_shape):
        dynamic = self.dynamic_tables
        self.tables = {}
        for name, (rows, dim, column) in sorted(self._table_specs.items()):
            # A dynamic table lives with its mapping (one ps task under ParameterServerStrategy).
            with dynamic[name].colocated() if name in dynamic else contextlib.nullcontext():
                initializer = column.table_options.initializer(self._default_table_init)
                self.tables[name] = create.create_table(
                    self, f"embedding/{name}", rows, dim, initializer,
                    trainable=column.table_options.trainable)
        for name, rows in dynamic.items():
            stddev = self._table_specs[name][2].table_options.init_stddev
            rows.attach(self.tables[name], functools.partial(
                initializers.random_rows, init_stddev=stddev, default=self._default_table_init))
        super().build(input_shape)

    @property
    def columns(self):
        return self._columns

    @property
    def dynamic_tables(self):
        """{embedding name: DynamicRows} of the dynamic (admission/eviction) tables."""
        return dynamic_table.dynamic_tables(self._columns.values())

    def group_widths(self):
        """{group name: [width of each feature]}."""
        return {name: [self._columns[f].width for f in names] for name, names in self._groups}

    def output_shapes(self):
        """{group name: GroupOutput of per-example shapes (tuples, no batch axis)}.

        The shapes of call()'s outputs, known before any call: what the config
        compiler checks block inputs against.
        """
        shapes = {}
        for name, feature_names in self._groups:
            columns = [self._columns[f] for f in feature_names]
            sequences = [c for c in columns if getattr(c, "is_sequence", False)]
            if sequences:
                others = [c.width for c in columns if c not in sequences]
                query = (sum(others),) if others else None
                keys = (sequences[0].max_len, sum(c.width for c in sequences))
                shapes[name] = GroupOutput(None, None, SequenceInput(query, keys, ()))
                continue
            widths = [c.width for c in columns]
            stacked = (len(widths), widths[0]) if len(set(widths)) == 1 else None
            shapes[name] = GroupOutput((sum(widths),), stacked)
        return shapes

    def update_dynamic_tables(self, features):
        """Admits, counts and evicts the batch's ids in the dynamic tables: the train step calls
        this before the forward pass. `call` only looks ids up, so no insertion or counting is
        ever part of a traced layer call, an evaluation or an export."""
        dynamic_table.update_mappings(self._columns.values(), features)

    def call(self, features, groups=None):
        """`groups`: names of the groups to compute (default all); only their features are read."""
        chosen = self._groups if groups is None else [g for g in self._groups if g[0] in groups]
        needed = None if groups is None else {f for _, names in chosen for f in names}
        values = {name: column(features, self.tables) for name, column in self._columns.items()
                  if needed is None or name in needed}
        if self._embedding_l2:
            used = [getattr(v, "embeddings", v) for name, v in values.items()
                    if self._columns[name].table_spec()]
            batch = tf.cast(tf.shape(used[0])[0], tf.float32) if used else 1.0
            self.add_loss(self._embedding_l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in used]) / batch)
        outputs = {}
        for name, feature_names in chosen:
            if any(getattr(self._columns[f], "is_sequence", False) for f in feature_names):
                outputs[name] = GroupOutput(None, None, self._sequence_input(feature_names, values))
                continue
            parts = [values[f] for f in feature_names]
            concat = tf.concat(parts, axis=-1) if len(parts) > 1 else parts[0]
            widths = {p.shape[-1] for p in parts}
            stacked = tf.stack(parts, axis=1) if len(widths) == 1 else None
            outputs[name] = GroupOutput(concat, stacked)
        return outputs

    def _sequence_input(self, feature_names, values):
        """SequenceInput of a group: sequence features -> keys, the others -> query."""
        sequences = [values[f] for f in feature_names if getattr(self._columns[f], "is_sequence", False)]
        others = [values[f] for f in feature_names if not getattr(self._columns[f], "is_sequence", False)]
        keys = tf.concat([s.embeddings for s in sequences], axis=-1) if len(sequences) > 1 \
            else sequences[0].embeddings
        query = (tf.concat(others, axis=-1) if len(others) > 1 else others[0]) if others else None
        return SequenceInput(query, keys, sequences[0].lengths)
