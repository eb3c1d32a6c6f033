"""Optimizers that update only the embedding rows a batch looks up.

tf_keras' Adam and FTRL decay their slots and rewrite the whole variable on
every step, even for an IndexedSlices gradient: a 10^7-row table costs as much
per step as 10^7 rows of dense weights. The optimizers here apply a gradient to
the rows it names and leave every other row and its slots as they are:

    LazyAdam         m, v of the rows: Adam moments (global-step bias correction)
    SparseAdagrad    ResourceSparseApplyAdagradV2
    RowwiseAdagrad   one accumulator per row (TorchRec / FBGEMM)
    SparseFtrl       ResourceSparseApplyFtrl
    SparseSGD        scatter-sub, or ResourceSparseApplyKerasMomentum with momentum

Each is a tf_keras optimizer (so strategies, ShardedVariables, checkpoints and
LossScaleOptimizer work as for Keras' own); `apply_rows(variable, indices,
values)` is the row update itself, reusable for tables kept elsewhere. It runs
one tf.function per optimizer, traced once for all its tables of one row width
and dtype (a table is an argument, not a capture): a training step's graph
calls it once per table instead of holding each table's own copy of the update
(issue 23). Under a distribution strategy the update is traced in place, per table.
`SplitOptimizer` routes embedding tables to one optimizer and dense weights to
another, with one step count.
"""

import re

import tensorflow as tf
import tf_keras

from easyrank.embeddings import CHUNK_ELEMENTS as _CHUNK_ELEMENTS

# Slots with at least this many elements are created without a second copy, in chunks.
from easyrank.embeddings import LARGE_ELEMENTS as LARGE_SLOT_ELEMENTS
from easyrank.training import fused_gradients


class SparseOptimizer(tf_keras.optimizers.Optimizer):
    """Base class: `update_step` -> `apply_rows` on the gradient's (unique) rows.

    A dense gradient (a table read as a whole, e.g. a 1-row table) updates every row.
    The base class sums duplicate indices (tf.unique + unsorted_segment_sum) before
    `update_step`, so `apply_rows` sees each row once.
    """

    def __init__(self, learning_rate, name, **kwargs):
        # weight_decay None, not the base class's 0: a decay of 0 still rewrites every row.
        kwargs.setdefault("weight_decay", None)
        super().__init__(name=name, jit_compile=False, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self._owns_step = True

    def share_step(self, iterations):
        """Reads the step count from `iterations` (another optimizer's) and never advances it."""
        own = self._iterations
        self._variables = [v for v in self._variables if v is not own]  # no orphan to save
        self._iterations = iterations
        self._owns_step = False

    def slot_names(self):
        """Names of the per-table slots, in `slots()` order."""
        return []

    def slots(self, variable):
        """The slot variables of `variable`, in `slot_names()` order."""
        index = self._index_dict[self._var_key(variable)]
        return [self._slots[name][index] for name in self.slot_names()]

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self._slots = {}
        for name in self.slot_names():
            self._slots[name] = [self._create_slot(v, name) for v in var_list]
            setattr(self, "_" + name, self._slots[name])  # tracked for checkpoints
        self._built = True

    def _create_slot(self, variable, name, value=0.0, shape=None):
        """A slot of `variable` filled with `value`; a large one without a second copy."""
        shape = list(variable.shape if shape is None else shape)
        if tf.TensorShape(shape).num_elements() < LARGE_SLOT_ELEMENTS:
            return self.add_variable_from_reference(
                variable, name, shape=shape,
                initial_value=tf.fill(shape, tf.cast(value, variable.dtype)))
        # Allocated unwritten (the variable's copy reads untouched pages), then filled in
        # place chunk by chunk: one copy of the slot, as easyrank.embeddings.create does
        # for tables.
        slot = self.add_variable_from_reference(variable, name, shape=shape, initial_value=tf.raw_ops.Empty(
            shape=shape, dtype=variable.dtype, init=False))
        parts = slot.variables if isinstance(slot, tf.__internal__.distribute.ShardedVariable) \
            else [slot]
        for part in parts:
            rows = int(part.shape[0])
            chunk = max(1, _CHUNK_ELEMENTS // max(1, part.shape[1:].num_elements()))
            for start in range(0, rows, chunk):
                stop = min(rows, start + chunk)
                part.scatter_update(tf.IndexedSlices(
                    tf.fill([stop - start] + part.shape[1:].as_list(), tf.cast(value, part.dtype)),
                    tf.range(start, stop)))
        return slot

    def update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices):
            indices, values = gradient.indices, gradient.values
        else:
            indices = tf.range(tf.shape(variable, out_type=tf.int64)[0])
            values = gradient
        self.apply_rows(variable, indices, tf.cast(values, variable.dtype))

    def apply_rows(self, variable, indices, values):
        """Updates rows `indices` (unique) of `variable` with gradient rows `values`."""
        slots = tuple(self.slots(variable))
        if tf.distribute.has_strategy():  # distributed and sharded variables: traced in place
            self._apply_rows(variable, slots, indices, values)
            return
        shared = self.__dict__.get("_shared_rows")
        if shared is None:  # kept out of attribute tracking: nothing to save
            shared = _Untracked(tf.function(self._apply_rows, reduce_retracing=True, autograph=False))
            self.__dict__["_shared_rows"] = shared
        shared.function(variable, slots, indices, values)

    def _apply_rows(self, variable, slots, indices, values):
        """apply_rows with the variable's slots (in slot_names() order) given."""
        raise NotImplementedError

    def _lr(self, variable):
        return tf.cast(self.learning_rate, variable.dtype)

    def _distributed_apply_gradients_fn(self, distribution, grads_and_vars, **kwargs):
        def apply(var, grad):
            return self._update_step(grad, var)

        for grad, var in grads_and_vars:
            distribution.extended.update(var, apply, args=(grad,), group=False)
        if self._owns_step:
            return self.iterations.assign_add(1)
        return self.iterations

    def get_config(self):
        config = super().get_config()
        config["learning_rate"] = self._serialize_hyperparameter(self._learning_rate)
        return config


class _Untracked:
    """Holds a value where tf.Module and Keras attribute tracking do not look."""

    def __init__(self, function):
        self.function = function


def _scatter_set(slot, indices, rows):
    slot.scatter_update(tf.IndexedSlices(rows, indices))


class LazyAdam(SparseOptimizer):
    """Adam on the rows in the batch only; the moments of other rows are not decayed."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="LazyAdam", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def slot_names(self):
        return ["m", "v"]

    def _apply_rows(self, variable, slots, indices, values):
        m, v = slots
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = self._lr(variable) * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        m_rows = beta_1 * tf.gather(m, indices) + (1 - beta_1) * values
        v_rows = beta_2 * tf.gather(v, indices) + (1 - beta_2) * tf.square(values)
        _scatter_set(m, indices, m_rows)
        _scatter_set(v, indices, v_rows)
        variable.scatter_sub(tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon),
                                              indices))

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)


class SparseAdagrad(SparseOptimizer):
    """Adagrad per element on the rows in the batch: row -= lr * g / (sqrt(acc) + epsilon)."""

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="SparseAdagrad", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def slot_names(self):
        return ["accumulator"]

    def _create_slot(self, variable, name):
        return super()._create_slot(variable, name, self.initial_accumulator_value)

    def _apply_rows(self, variable, slots, indices, values):
        (accumulator,) = slots
        tf.raw_ops.ResourceSparseApplyAdagradV2(
            var=variable.handle, accum=accumulator.handle, lr=self._lr(variable),
            epsilon=tf.cast(self.epsilon, variable.dtype), grad=values, indices=indices)

    def get_config(self):
        return dict(super().get_config(), epsilon=self.epsilon,
                    initial_accumulator_value=self.initial_accumulator_value)


class RowwiseAdagrad(SparseAdagrad):
    """One accumulator per row: acc += mean(g^2 over the row); row -= lr * g / (sqrt(acc) + eps)."""

    def __init__(self, learning_rate=0.01, initial_accumulator_value=0.1, epsilon=1e-7,
                 name="RowwiseAdagrad", **kwargs):
        super().__init__(learning_rate, initial_accumulator_value, epsilon, name=name, **kwargs)

    def _create_slot(self, variable, name):
        return SparseOptimizer._create_slot(self, variable, name, self.initial_accumulator_value,
                                            shape=variable.shape[:1])

    def _apply_rows(self, variable, slots, indices, values):
        (accumulator,) = slots
        acc_rows = tf.gather(accumulator, indices) + tf.reduce_mean(tf.square(values), axis=1)
        _scatter_set(accumulator, indices, acc_rows)
        step = self._lr(variable) / (tf.sqrt(acc_rows) + self.epsilon)
        variable.scatter_sub(tf.IndexedSlices(step[:, None] * values, indices))


class SparseFtrl(SparseOptimizer):
    """FTRL-proximal on the rows in the batch (the same rule as tf_keras' Ftrl, beta 0)."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, name="SparseFtrl", **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1, self.l2 = l1_regularization_strength, l2_regularization_strength

    def slot_names(self):
        return ["accumulator", "linear"]

    def _create_slot(self, variable, name):
        value = self.initial_accumulator_value if name == "accumulator" else 0.0
        return super()._create_slot(variable, name, value)

    def _apply_rows(self, variable, slots, indices, values):
        accumulator, linear = slots
        dtype = variable.dtype
        tf.raw_ops.ResourceSparseApplyFtrl(
            var=variable.handle, accum=accumulator.handle, linear=linear.handle, grad=values,
            indices=indices, lr=self._lr(variable), l1=tf.cast(self.l1, dtype),
            l2=tf.cast(self.l2, dtype), lr_power=tf.cast(self.learning_rate_power, dtype))

    def get_config(self):
        return dict(super().get_config(), learning_rate_power=self.learning_rate_power,
                    initial_accumulator_value=self.initial_accumulator_value,
                    l1_regularization_strength=self.l1, l2_regularization_strength=self.l2)


class SparseSGD(SparseOptimizer):
    """SGD on the rows in the batch; with momentum, only those rows' momentum is applied."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name="SparseSGD",
                 **kwargs):
        super().__init__(learning_rate, name, **kwargs)
        self.momentum, self.nesterov = momentum, nesterov

    def slot_names(self):
        return ["momentum"] if self.momentum else []

    def _apply_rows(self, variable, slots, indices, values):
        lr = self._lr(variable)
        if not self.momentum:
            variable.scatter_sub(tf.IndexedSlices(lr * values, indices))
            return
        (momentum,) = slots
        tf.raw_ops.ResourceSparseApplyKerasMomentum(
            var=variable.handle, accum=momentum.handle, lr=lr, grad=values, indices=indices,
            momentum=tf.cast(self.momentum, variable.dtype), use_nesterov=self.nesterov)

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)


def table_name(variable):
    """The name of `variable` without its ':0' and ShardedVariable '/part_N' suffixes."""
    return re.sub(r"(/part_\d+)?:\d+$", "", variable.name)


class SplitOptimizer(tf_keras.optimizers.Optimizer):
    """Embedding tables -> `embedding`, every other variable -> `dense`; one step count.

    The step count (`iterations`), learning rate and loss-scale handling seen from
    outside are the dense optimizer's; the embedding optimizer reads the same step
    count. Checkpoints hold both under "dense" and "embedding".

    Args:
      dense: a tf_keras optimizer.
      embedding: a SparseOptimizer.
      table_names: names (see `table_name`) of the embedding table variables.
    """

    def __init__(self, dense, embedding, table_names, name="SplitOptimizer"):
        self.dense = dense
        super().__init__(name=name, weight_decay=None, jit_compile=False)
        self.embedding = embedding
        embedding.share_step(dense.iterations)
        self._table_names = frozenset(table_names)

    def _create_iteration_variable(self):
        # The dense optimizer's, also tracked here: a SavedModel revives this object as a
        # plain Optimizer, whose own step counter must find a saved value.
        self._iterations = self.dense.iterations

    @property
    def iterations(self):
        return self.dense.iterations

    @iterations.setter
    def iterations(self, variable):
        raise RuntimeError("set the dense optimizer's iterations instead")

    @property
    def learning_rate(self):
        return self.dense.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.dense.learning_rate = value

    @property
    def variables(self):
        return self.dense.variables + self.embedding.variables

    def is_table(self, variable):
        return table_name(variable) in self._table_names

    def _split(self, items, variable_of):
        tables = [x for x in items if self.is_table(variable_of(x))]
        others = [x for x in items if not self.is_table(variable_of(x))]
        return tables, others

    def build(self, var_list):
        if getattr(self, "_built", False):
            return
        tables, others = self._split(list(var_list), lambda v: v)
        self.embedding.build(tables)
        self.dense.build(others)
        self._built = True

    def aggregate_gradients(self, grads_and_vars):
        # Under MultiWorkerMirrored: one all-gather per table width, not per table.
        if fused_gradients.fuses(tf.distribute.get_strategy()):
            return fused_gradients.all_reduce_sum(grads_and_vars, self.is_table)
        return super().aggregate_gradients(grads_and_vars)

    def update_step(self, gradient, variable):
        raise NotImplementedError("SplitOptimizer applies gradients through its two optimizers")

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        grads_and_vars = list(grads_and_vars)
        aggregate = kwargs.pop("experimental_aggregate_gradients", True)
        if not skip_gradients_aggregation and aggregate:
            grads_and_vars = self.aggregate_gradients(grads_and_vars)
        tables, others = self._split(grads_and_vars, lambda pair: pair[1])
        # Tables first: both read the step count before the dense optimizer advances it.
        if tables:
            self.embedding.apply_gradients(tables, skip_gradients_aggregation=True)
        return self.dense.apply_gradients(others, skip_gradients_aggregation=True)

    def get_config(self):
        return {"name": self.name,
                "dense": tf_keras.optimizers.serialize(self.dense),
                "embedding": tf_keras.optimizers.serialize(self.embedding)}
