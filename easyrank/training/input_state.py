"""What a checkpoint was trained on, and whether a run resumes it or continues on new data.

Every checkpoint of a run carries an `InputState` (checkpoint keys
`input_state/signature` and `input_state/start_step`): the signature of the
training input (files with sizes and modification times, batch size, epochs,
seed, shuffling: everything that fixes the order of its batches) and the
global step at which training on that input started. The position reached in
the input is `step - start_step` batches.

A run into a model_dir that holds a checkpoint then

- resumes when its input has the checkpoint's signature (an interrupted run
  started again): it skips the batches already trained on;
- continues when the input differs (the next day's data): weights, optimizer
  state and global step are kept, the new files are read from their first row
  and `start_step` becomes the current step.

`--input_mode` forces either. A resume that would skip more batches than the
input holds stops with a ConfigError (forced) or becomes a continue (auto,
checkpoints written before the signature existed).
"""

import collections
import json
import logging

import tensorflow as tf

from easyrank.data.dataset import list_files
from easyrank.errors import ConfigError
from easyrank.io import files as file_layer

AUTO, RESUME, CONTINUE = "auto", "resume", "continue"

logger = logging.getLogger(__name__)

MODES = (AUTO, RESUME, CONTINUE)
_SIGNATURE_KEY = "input_state/signature/.ATTRIBUTES/VARIABLE_VALUE"
_START_KEY = "input_state/start_step/.ATTRIBUTES/VARIABLE_VALUE"

# mode: "fresh", "resume" or "continue"; skip: batches of the input to skip;
# start_step: global step at which training on this input started; remaining:
# steps left to train (None: until the input ends).
Plan = collections.namedtuple("Plan", ["mode", "start_step", "skip", "remaining"])


class InputState(tf.Module):
    """The input signature and start step, saved with every checkpoint of a run."""

    def __init__(self):
        super().__init__(name="input_state")
        with tf.device("/cpu:0"):
            self.signature = tf.Variable("", dtype=tf.string, trainable=False)
            self.start_step = tf.Variable(0, dtype=tf.int64, trainable=False)


def signature(config):
    """{files: [[path, bytes, mtime_ns or a checksum]], ...}: what decides the batches of the training input."""
    data = config.data_config
    files = [[f, *file_layer.identity(f)] for f in list_files(config.train_input_path)]
    return {"files": files, "batch_size": data.batch_size,
            "num_epochs": config.train_config.num_epochs, "seed": config.train_config.seed,
            "shuffle": data.shuffle, "cache": data.cache}


def read(checkpoint_path):
    """(signature dict or None, start step) recorded in a checkpoint (None, 0) when absent."""
    reader = file_layer.checkpoint_reader(checkpoint_path)
    if not reader.has_tensor(_SIGNATURE_KEY):
        return None, 0
    text = reader.get_tensor(_SIGNATURE_KEY)
    text = text.decode() if isinstance(text, bytes) else str(text)
    return (json.loads(text) if text else None), int(reader.get_tensor(_START_KEY))


def plan(config, checkpoint_path, step, mode=AUTO, count_batches=None):
    """Decides how a run trains on its input, logs the decision in one line, returns a Plan.

    Args:
      config: the run's PipelineConfig.
      checkpoint_path: the checkpoint the run restored, or None.
      step: the global step after restoring (or warm starting).
      mode: AUTO, RESUME or CONTINUE (the --input_mode flag).
      count_batches: callable returning the batches the input holds over
        num_epochs (counts rows); called only to check a resume.
    """
    if mode not in MODES:
        raise ConfigError(f"input mode {mode!r} is not one of {', '.join(MODES)}.",
                          path="--input_mode", file="")
    current = signature(config)
    files = _describe(current)
    if checkpoint_path is None:
        logger.info("Input: training on %s from its first row (no checkpoint in model_dir).",
                     files)
        return _plan(config, "fresh", step, 0)
    recorded, start = read(checkpoint_path)
    done = step - start
    if mode == AUTO and recorded is not None:
        mode = RESUME if _normalized(recorded) == _normalized(current) else CONTINUE
        why = ("the checkpoint was trained on this input" if mode == RESUME
               else f"the input differs from the checkpoint's ({_difference(recorded, current)})")
    elif mode == AUTO:
        mode, why = RESUME, "the checkpoint records no input"
    else:
        why = "--input_mode=" + mode
    if mode == CONTINUE:
        logger.info("Input: continuing at step %d on new data, %s from its first row (%s).",
                     step, files, why)
        return _plan(config, CONTINUE, step, 0)
    total = count_batches() if done > 0 and count_batches is not None else None
    if total is not None and done > total:
        if why.startswith("--input_mode"):
            raise ConfigError(
                f"cannot resume: the checkpoint at step {step} trained {done} batches on its "
                f"input but {files} holds only {total} batches for num_epochs "
                f"{config.train_config.num_epochs}; this looks like new data. Pass "
                "--input_mode=continue (or auto) to train on it from its first row.",
                path="--input_mode", file="")  # a flag, not a field of the config file
        logger.info("Input: continuing at step %d on new data, %s from its first row (%s, "
                     "and it holds %d batches, fewer than the %d trained).",
                     step, files, why, total, done)
        return _plan(config, CONTINUE, step, 0)
    result = _plan(config, RESUME, start, done, total)
    if result.remaining == 0:
        logger.info("Input: %s is already trained (%d batches from step %d; %s); "
                     "nothing left to train. Pass --input_mode=continue to train on it again.",
                     files, done, start, why)
    else:
        logger.info("Input: resuming %s at batch %d (step %d; %s).", files, done, step, why)
    return result


def _plan(config, mode, start_step, skip, total=None):
    num_steps = config.train_config.num_steps
    remaining = num_steps - skip if num_steps else None
    if total is not None:
        remaining = min(remaining, total - skip) if remaining is not None else total - skip
    if remaining is not None:
        remaining = max(remaining, 0)
    return Plan(mode, start_step, skip, remaining)


def record(state, config, start_step):
    """Stores the run's input signature and start step in `state` (saved with checkpoints)."""
    state.signature.assign(json.dumps(signature(config), sort_keys=True))
    state.start_step.assign(start_step)


def _describe(sig):
    names = [f[0] for f in sig["files"]]
    text = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{len(names)} file(s) ({text})"


def _normalized(sig):
    """`sig` with local file names made absolute: data.csv, ./data.csv and /abs/data.csv (from
    this directory) are one file, so a path spelled otherwise resumes (issue 29)."""
    if not isinstance(sig, dict) or not isinstance(sig.get("files"), list):
        return sig
    names = [[file_layer.abspath(f[0]), *f[1:]] if isinstance(f, list) and f and isinstance(f[0], str)
             else f for f in sig["files"]]
    return {**sig, "files": names}


def _difference(recorded, current):
    """A few words on what changed between two signatures."""
    recorded, current = _normalized(recorded), _normalized(current)
    if recorded.get("files") != current["files"]:
        old = {f[0]: f[1:] for f in recorded.get("files", [])}
        new = {f[0]: f[1:] for f in current["files"]}
        if set(old) != set(new):
            return "other files"
        return "files changed in size or modification time"
    changed = sorted(k for k in current if recorded.get(k) != current[k])
    return "changed " + ", ".join(changed)
