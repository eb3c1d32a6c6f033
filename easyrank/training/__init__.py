"""Training: the train-and-evaluate loop, callbacks, checkpoints, optimizers, strategies.

Import the modules themselves (`from easyrank.training import loop`); this
package's own import stays light so that the cluster launcher starts fast.
"""
