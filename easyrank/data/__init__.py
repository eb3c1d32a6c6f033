"""Input pipelines: files -> tf.data of (features, targets) batches."""

from easyrank.data.dataset import binary_labels, build_dataset, count_rows, list_files, row_checks
from easyrank.data.fields import input_signature_fields

__all__ = ["binary_labels", "build_dataset", "count_rows", "input_signature_fields", "list_files", "row_checks"]
