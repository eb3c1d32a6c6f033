"""Input pipelines: files -> tf.data of (features, targets) batches."""

from easyrank.data.dataset import build_dataset, count_rows, input_signature_fields, list_files

__all__ = ["build_dataset", "count_rows", "input_signature_fields", "list_files"]
