"""Statistics from data: one streaming pass over the training input fills what a config leaves open.

    summary = write_filled_config("in.config", "out.config")

See compute.py for what a config can leave to the data, sketches.py for the
error bounds on data larger than memory, config_text.py for what is kept of
the original text.
"""

import os

import tensorflow as tf
from google.protobuf import text_format

from easyrank.config import load_config
from easyrank.errors import ConfigError
from easyrank.io import files
from easyrank.statistics import compute, config_text
from easyrank.statistics.compute import compute_statistics, fill, wanted

__all__ = ["compute_statistics", "fill", "wanted", "write_filled_config"]


def write_filled_config(config_path, output_config, vocab_dir=None, edit_config_json=None,
                        input_paths=None):
    """Computes the statistics, writes the filled config and vocabularies; returns the summary."""
    config = load_config(config_path, edit_config_json, allow_unfilled=True)
    todo = compute.wanted(config)
    vocab_dir = vocab_dir or os.path.join(os.path.dirname(output_config) or ".", "vocab")
    _check_outputs(config_path, output_config, vocab_dir if any(
        compute.writes_vocabulary(kind) for _, kind, _ in todo) else None)
    statistics = compute.compute_statistics(config, input_paths)
    compute.check_results(statistics)
    notes = compute.fill(config, statistics, vocab_dir)
    inputs = ", ".join(input_paths or config.train_input_path)
    header = (f"# Statistics from data filled in by `python -m easyrank.stats` from {config_path}:\n"
              f"# {statistics.rows:,} training rows of {inputs}.\n")
    text = None if edit_config_json else config_text.rewrite(
        files.read_text(config_path), config, [p for p, _, _ in todo], header)
    lost = text is None
    if lost:  # overrides are not in the text: print the whole config (comments lost)
        text = header + text_format.MessageToString(config)
    directory = os.path.dirname(output_config)
    if directory:
        files.makedirs(directory)
    files.write_text(output_config, text)
    lines = [f"{statistics.rows:,} training rows read from {inputs}."]
    lines += [notes[p] for p, _, _ in todo]
    if not todo:
        lines.append("Nothing is left to the data in this config (see feature.proto: compute_from_data, "
                     "boundaries_from_quantiles, vocab_from_data); the output is a copy.")
    lines.append(f"Wrote {output_config}" + (" (printed from the parsed config: comments were not kept)."
                                             if lost else "."))
    return "\n".join(lines)


def _check_outputs(config_path, output_config, vocab_dir):
    """ConfigError before the pass when an output would replace the input config or cannot be
    written (a directory in the way, no permission)."""
    if os.path.realpath(output_config) == os.path.realpath(config_path):
        raise ConfigError(f"{output_config!r} is the input config: writing it would replace the "
                          "template with its filled-in copy. Write the filled config to another "
                          "file.", path="--output_config")
    if tf.io.gfile.isdir(output_config):
        raise ConfigError(f"{output_config!r} is a directory; give a file name.",
                          path="--output_config")
    for directory, flag in ((os.path.dirname(output_config) or ".", "--output_config"),
                            (vocab_dir, "--vocab_dir")):
        if directory is None:
            continue
        try:
            tf.io.gfile.makedirs(directory)
            probe = os.path.join(directory, f".easyrank_stats_probe-{os.getpid()}")
            with tf.io.gfile.GFile(probe, "w") as f:
                f.write("")
            tf.io.gfile.remove(probe)
        except (tf.errors.OpError, OSError) as e:
            raise ConfigError(f"cannot write to {directory!r} "
                              f"({getattr(e, 'message', None) or e}); choose a writable place.",
                              path=flag) from None
