"""Feature groups: the columns of each group, side by side.

`FeatureGroups` is the model's input layer: raw features in, one GroupOutput
per group out. It owns the embedding tables (one per embedding name).
"""

import collections

import tensorflow as tf
import tf_keras

from easyrank.errors import ConfigError
from easyrank.features import columns as columns_lib
from easyrank.features.builder import build_columns

# concat: [B, sum of widths]; stacked: [B, F, D] or None when widths differ;
# sequence: a SequenceInput for groups with sequence features (then concat and
# stacked are None), else None.
GroupOutput = collections.namedtuple("GroupOutput", ["concat", "stacked", "sequence"],
                                     defaults=(None,))
# query: [B, E] or None (no non-sequence features); keys: [B, T, E']; lengths: [B].
SequenceInput = collections.namedtuple("SequenceInput", ["query", "keys", "lengths"])


class FeatureGroups(tf_keras.layers.Layer):
    """Raw feature dict -> {group name: GroupOutput}.

    Args:
      feature_configs: FeatureConfig messages.
      feature_groups: FeatureGroup messages.
      embedding_l2: L2 penalty on the embedding rows looked up in a batch.
    """

    def __init__(self, feature_configs, feature_groups, embedding_l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self._columns = build_columns(feature_configs)
        self._groups = [(g.name, list(g.feature_names)) for g in feature_groups]
        self._embedding_l2 = embedding_l2
        self._lookup_tables = [t for c in self._columns.values()
                               for t in (c.index.trackables() if hasattr(c, "index") else [])]
        table_specs = {}
        for column in self._columns.values():
            spec = column.table_spec()
            if spec is None:
                continue
            name, rows, dim = spec
            known = table_specs.setdefault(name, (rows, dim, column))
            if known[:2] != (rows, dim):
                raise ConfigError(
                    f"embedding {name!r} is shared with feature {known[2].name!r} but has {rows} rows "
                    f"x {dim} instead of {known[0]} x {known[1]}; shared tables need the same "
                    "vocabulary size and embedding_dim.", path=column.path)
        self._table_specs = table_specs

    def build(self, input_shape):
        self.tables = {
            name: self.add_weight(name=f"embedding/{name}", shape=(rows, dim),
                                  initializer=columns_lib.embedding_initializer())
            for name, (rows, dim, _) in sorted(self._table_specs.items())
        }
        super().build(input_shape)

    @property
    def columns(self):
        return self._columns

    def group_widths(self):
        """{group name: [width of each feature]}."""
        return {name: [self._columns[f].width for f in names] for name, names in self._groups}

    def call(self, features):
        values = {name: column(features, self.tables) for name, column in self._columns.items()}
        if self._embedding_l2:
            used = [getattr(v, "embeddings", v) for name, v in values.items()
                    if self._columns[name].table_spec()]
            batch = tf.cast(tf.shape(used[0])[0], tf.float32) if used else 1.0
            self.add_loss(self._embedding_l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in used]) / batch)
        outputs = {}
        for name, feature_names in self._groups:
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
