"""Input pipelines: files -> tf.data of (features, targets) batches."""

from easyrank.data.dataset import build_dataset, count_rows, list_files
from easyrank.data.fields import input_signature_fields

__all__ = ["build_dataset", "count_rows", "input_signature_fields", "list_files"]
