"""Export a trained model as a versioned SavedModel that TF Serving loads as is.

    <export_dir>/<version>/saved_model.pb, variables/, assets/,
                          assets.extra/pipeline.config

Signatures:
  serving_default: `examples`, a 1-D tf.string tensor of serialized tf.Example;
                   missing features take the config's default values.
  raw_features:    one 1-D input per feature, named after the input field.
Outputs are float32 and named "<task>/logits", "<task>/probs" (classification)
or "<task>/predictions" (regression).

The model is written to a temporary directory next to the target and renamed
only when complete; version numbers are Unix seconds and only grow.
"""

import os
import shutil
import time

import tensorflow as tf
from google.protobuf import text_format

from easyrank.data.tfrecord_reader import feature_spec

PIPELINE_CONFIG_ASSET = "pipeline.config"


class ServingModule(tf.Module):
    """Holds the model and its two serving functions."""

    def __init__(self, model, data_config):
        super().__init__()
        self.model = model
        self._spec = feature_spec(data_config, include_targets=False)
        fields = model.input_fields
        self.serving_default = tf.function(
            self._from_examples,
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.raw_features = tf.function(
            self._from_raw,
            input_signature=[{name: tf.TensorSpec([None], dtype, name=name) for name, dtype, _ in fields}])

    def _from_examples(self, examples):
        features = tf.io.parse_example(examples, self._spec)
        return self._outputs(features)

    def _from_raw(self, features):
        return self._outputs(features)

    def _outputs(self, features):
        outputs = self.model(features, training=False)
        return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}


def next_version(export_dir):
    """A version above every existing one (Unix seconds when that is larger)."""
    existing = [int(d) for d in _versions(export_dir)]
    return max([int(time.time())] + [v + 1 for v in existing])


def _versions(export_dir):
    if not os.path.isdir(export_dir):
        return []
    return sorted((d for d in os.listdir(export_dir) if d.isdigit()), key=int)


def export_model(model, config, export_dir, keep=0):
    """Writes <export_dir>/<version>/ atomically; returns its path."""
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir)
    final = os.path.join(export_dir, str(version))
    temp = os.path.join(export_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        module = ServingModule(model, config.data_config)
        raw = module.raw_features.get_concrete_function()
        tf.saved_model.save(module, temp, signatures={
            "serving_default": module.serving_default.get_concrete_function(),
            "raw_features": raw,
        })
        extra = os.path.join(temp, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, PIPELINE_CONFIG_ASSET), "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(config))
        os.rename(temp, final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    if keep > 0:
        for old in _versions(export_dir)[:-keep]:
            shutil.rmtree(os.path.join(export_dir, old), ignore_errors=True)
    return final


def default_export_dir(config, model_dir):
    return config.export_config.export_dir or os.path.join(model_dir, "export")


def main(argv):
    """python -m easyrank.export --pipeline_config_path CFG --export_dir DIR [--checkpoint_path P]"""
    del argv
    from absl import flags

    from easyrank import cli, distribute, training
    from easyrank.errors import ConfigError
    FLAGS = flags.FLAGS
    config = cli.load_pipeline_config()
    checkpoint_path = FLAGS.checkpoint_path or FLAGS.model_dir or config.model_dir
    model, checkpoint = training.create_model(config, distribute.build_strategy(config.train_config))
    if not checkpoint_path or not training.restore(checkpoint, checkpoint_path):
        raise ConfigError(f"no checkpoint found in {checkpoint_path!r}; train first or pass "
                          "--checkpoint_path.", path="model_dir", file=FLAGS.pipeline_config_path)
    export_dir = FLAGS.export_dir or default_export_dir(config, FLAGS.model_dir or config.model_dir)
    print(export_model(model, config, export_dir, keep=config.export_config.keep))
    return 0


if __name__ == "__main__":
    from absl import flags as _flags

    from easyrank import cli as _cli
    _cli.define_config_flags()
    _flags.DEFINE_string("export_dir", None, "Base directory; the model goes to <export_dir>/<version>/.")
    _flags.DEFINE_string("checkpoint_path", None, "A checkpoint file or directory (default: model_dir).")
    _flags.DEFINE_string("model_dir", None, "Overrides the config's model_dir.")
    _cli.run(main)
