"""The tf.distribute strategy a run uses."""

import tensorflow as tf


def build_strategy(train_config):
    """The strategy for `train_config`; the default (one device) for now."""
    del train_config
    return tf.distribute.get_strategy()
