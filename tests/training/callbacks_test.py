"""IntervalCallback acts exactly at the multiples of its intervals, from any start step."""

import easyrank  # noqa: F401  # isort: split
from easyrank.training.callbacks import IntervalCallback, next_multiple


def _due_steps(callback, start, batches):
    callback.start = start
    callback._next = callback._due_after(start)  # what on_train_begin does after reading the step
    return [step for step in (callback.due(b) for b in range(batches)) if step is not None]


def test_next_multiple():
    assert next_multiple(0, 200) == 200
    assert next_multiple(200, 200) == 400
    assert next_multiple(399, 200) == 400
    assert next_multiple(5, 0) == float("inf")


def test_one_interval_from_zero_and_from_a_resumed_step():
    assert _due_steps(IntervalCallback(3), 0, 10) == [3, 6, 9]
    assert _due_steps(IntervalCallback(3), 7, 6) == [9, 12]


def test_several_intervals_act_at_each_multiple_once():
    assert _due_steps(IntervalCallback(4, 6, 0), 0, 13) == [4, 6, 8, 12]


def test_no_positive_interval_never_acts():
    assert _due_steps(IntervalCallback(0, -1), 0, 50) == []
