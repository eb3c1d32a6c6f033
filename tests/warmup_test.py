"""Warmup and check requests: rows to tf.Examples."""

import easyrank  # noqa: F401

# isort: split
import numpy as np

from easyrank.serving import warmup


def test_to_examples_leaves_out_empty_values_and_keeps_list_entries():
    features = {
        "city": np.array([b"", b"rome"], dtype=object),                 # scalar string
        "hist": np.array([[b"1", b""], [b"", b""]], dtype=object),     # padded list
        "age": np.array([31.0, 7.5], dtype=np.float32),
        "count": np.array([2, -3], dtype=np.int64),
    }
    first, second = warmup.to_examples(features)
    # An empty scalar is absent (the parser gives the config's default), not an empty list,
    # which a scalar feature of serving_default would reject.
    assert "city" not in first.features.feature
    assert list(second.features.feature["city"].bytes_list.value) == [b"rome"]
    assert list(first.features.feature["hist"].bytes_list.value) == [b"1"]
    assert "hist" not in second.features.feature
    assert list(first.features.feature["age"].float_list.value) == [31.0]
    assert list(second.features.feature["count"].int64_list.value) == [-3]
