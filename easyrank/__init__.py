"""easyrank: config-driven ranking models on TensorFlow 2 (tf_keras)."""

import os

# tensorflow-recommenders and easyrank use the Keras 2 API (tf_keras). The switch
# must be set before TensorFlow is first imported anywhere in the process.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"
