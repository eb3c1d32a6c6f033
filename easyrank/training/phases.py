"""Wall-clock phases of a training run, written to <model_dir>/phases.json (issue 23).

A run marks the end of each phase (import, build, input, tracing, training,
evaluation, export) with a time.time() stamp; tools/benchmark.py reads the file
to split a run's whole-process time, counted from the moment it started the
process, into those phases. Marking is one clock read; nothing is printed.
"""

import json
import os
import time

import tf_keras

from easyrank.io import files

PHASES_FILE = "phases.json"


class PhaseTimer:
    """Ordered (phase, end time) marks; the first phase ends when the timer is made."""

    def __init__(self, first="import"):
        self.marks = [(first, time.time())]

    def mark(self, phase):
        """Ends `phase` now (a phase marked again keeps its last end)."""
        self.marks = [(name, t) for name, t in self.marks if name != phase] + [(phase, time.time())]

    def seconds(self):
        """{phase: seconds from the previous mark}, the first phase left out (its start is unknown here)."""
        return {name: t - before for (_, before), (name, t) in zip(self.marks, self.marks[1:])}

    def write(self, model_dir):
        """Writes {"marks": [[phase, unix time], ...], "seconds": {...}} to model_dir/phases.json."""
        text = json.dumps({"marks": self.marks, "seconds": self.seconds()}, indent=1)
        files.write_text(os.path.join(model_dir, PHASES_FILE), text)


class FirstStepMarker(tf_keras.callbacks.Callback):
    """Marks `phase` (tracing, the first step's end) at fit's first batch end."""

    def __init__(self, timer, phase="tracing"):
        super().__init__()
        self._supports_tf_logs = True
        self.timer, self.phase, self.done = timer, phase, False

    def on_train_batch_end(self, batch, logs=None):
        if not self.done:
            self.done = True
            self.timer.mark(self.phase)


def read_phases(model_dir, started):
    """{phase: seconds} of a run's phases.json, the first phase counted from `started` (unix time)."""
    marks = json.loads(files.read_text(os.path.join(model_dir, PHASES_FILE)))["marks"]
    result, before = {}, started
    for name, t in marks:
        result[name] = t - before
        before = t
    return result
