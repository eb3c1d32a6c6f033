"""Optimizer slots of dynamic embedding tables, found for the row resets (issue 18).

A dynamic table re-initialises a row before a new id uses it; the row of every
optimizer slot of that table (Adam's moments, an Adagrad accumulator, a row-wise
slot of shape [rows] or [rows, 1], ...) goes back to its initial value with it.
The slots are found generically: every variable the optimizer tracks whose name
ends with the table's name and whose first dimension is the table's rows, so
any tf_keras optimizer (and wrappers such as LossScaleOptimizer) fits.
"""

import tensorflow as tf


def attach_optimizer_slots(model, optimizer):
    """Hands each dynamic table of `model` its slots and their initial rows.

    Call once the optimizer is built and before a checkpoint is restored: the
    initial row of a slot is read from its row 0, still at its initial value then.
    """
    groups = getattr(model, "feature_groups", None)
    tables = groups.dynamic_tables if groups is not None else {}
    if not tables:
        return
    variables = [v for v in tf.train.TrackableView(optimizer).descendants()
                 if isinstance(v, tf.Variable)]
    for rows in tables.values():
        rows.attach_slots(find_slots(rows.table, variables))


def find_slots(table, variables):
    """(slot, its initial row as a NumPy array) of the variables that are slots of `table`."""
    name = _name(table)
    slots, seen = [], set()
    for v in variables:
        key = _name(v)
        if key in seen or key == name or not key.endswith("/" + name.split("/", 1)[-1]):
            continue
        if v.shape.rank and v.shape[0] == table.shape[0]:
            seen.add(key)
            slots.append((v, v[0].numpy()))
    return slots


def _name(variable):
    return variable.name.split(":")[0]
