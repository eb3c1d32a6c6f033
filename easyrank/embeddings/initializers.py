"""How an embedding table starts: the initialisation policy of every table.

A feature's EmbeddingOptions become TableOptions (features/builder.py): a truncated normal
with init_stddev, pretrained rows from a file, or the run's default, uniform(-0.05, 0.05) or
zeros when FTRL updates the tables (models/compiler.default_table_init). `random_rows` draws
the same distribution statelessly for rows re-initialised later (a dynamic table's freed rows).
"""

import dataclasses

import tensorflow as tf
import tf_keras

# How a table starts when its feature sets no initializer: uniform(-0.05, 0.05), or
# zeros (the tables of an FTRL run: FTRL-Proximal's weights start at 0).
UNIFORM, ZEROS = "uniform", "zeros"


@dataclasses.dataclass(frozen=True)
class TableOptions:
    """How a column's embedding table starts and trains.

    init_stddev: > 0 for a truncated normal, None for the default (see `initializer`).
    pretrained: None or a float array [n, dim] for the first n rows.
    """

    init_stddev: float | None = None
    trainable: bool = True
    pretrained: object = dataclasses.field(default=None, compare=False)
    pretrained_file: str = ""

    def initializer(self, default=UNIFORM):
        """The tf_keras initializer of a table with these options; without init_stddev, the
        `default` one (UNIFORM or ZEROS) for the rows that no pretrained row covers."""
        base = (tf_keras.initializers.TruncatedNormal(stddev=self.init_stddev) if self.init_stddev
                else embedding_initializer(default))
        if self.pretrained is None:
            return base
        pretrained = self.pretrained

        def init(shape, dtype=None):
            rows = tf.constant(pretrained, dtype=dtype or tf.float32)
            return tf.concat([rows, base([shape[0] - len(pretrained), shape[1]], dtype=dtype)], axis=0)

        return init


def embedding_initializer(default=UNIFORM):
    """The initializer of a table whose feature sets none: `default`, UNIFORM or ZEROS."""
    if default == ZEROS:
        return tf_keras.initializers.Zeros()
    if default != UNIFORM:
        raise ValueError(f"default table initializer {default!r} is not {UNIFORM!r} or {ZEROS!r}")
    return tf_keras.initializers.RandomUniform(-0.05, 0.05)


def random_rows(shape, seed, init_stddev=None, default=UNIFORM):
    """Fresh rows of a table's initial distribution (TableOptions: truncated normal with
    init_stddev, else `default`: uniform(-0.05, 0.05) or zeros), drawn from the stateless
    `seed` (shape [2]): the same seed gives the same rows on every worker."""
    if init_stddev:
        return tf.random.stateless_truncated_normal(shape, seed, stddev=init_stddev)
    if default == ZEROS:
        return tf.zeros(shape)
    return tf.random.stateless_uniform(shape, seed, -0.05, 0.05)
