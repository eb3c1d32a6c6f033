"""Input pipelines: files -> tf.data of (features, targets) batches."""

from easyrank.data.dataset import build_dataset, input_signature_fields, list_files

__all__ = ["build_dataset", "input_signature_fields", "list_files"]
