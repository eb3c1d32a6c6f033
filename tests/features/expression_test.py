"""expr_feature (issue 28): the grammar, its errors, and the TF graph against NumPy."""

import os

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easyrank import config as config_lib
from easyrank.errors import ConfigError
from easyrank.features.builder import build_columns
from easyrank.protos import expression_grammar, feature_pb2

BASE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "base.config")
A = np.array([3.0, 0.0, -2.0, 10.0, 0.5], np.float32)
B = np.array([2.0, 0.0, 4.0, -1.0, 0.5], np.float32)
N = np.array([1, 2, 0, 7, 3], np.int64)


def column(expression, extra=""):
    text = f'expr_feature {{ name: "x" expression: "{expression}" {extra} }}'
    return build_columns([text_format.Parse(text, feature_pb2.FeatureConfig())])["x"]


def run(expression, extra=""):
    return column(expression, extra)({"a": tf.constant(A), "b": tf.constant(B), "n": tf.constant(N)}, {}).numpy()


def safe_div(x, y):
    return np.divide(x, y, out=np.zeros_like(x), where=y != 0)


@pytest.mark.parametrize("expression, reference", [
    ("a + b * 2 - n", A + B * 2 - N),
    ("-a * -(b - 1)", -A * -(B - 1)),
    ("(a + b) / 2", (A + B) / 2),
    ("a / b", safe_div(A, B)),  # x / 0 = 0
    ("log(1 + a) + log1p(b)", np.where(1 + A > 0, np.log(np.maximum(1 + A, 1e-30)), 0)
     + np.where(B > -1, np.log1p(np.maximum(B, -0.5)), 0)),
    ("sqrt(a) + abs(b) + exp(n / 10)", np.sqrt(np.maximum(A, 0)) + np.abs(B) + np.exp(N / 10)),
    ("min(a, b, 1) + max(a, 2 * b)", np.minimum(np.minimum(A, B), 1) + np.maximum(A, 2 * B)),
    ("a >= b", (A >= B).astype(np.float32)),
    ("(a < b) + (a == b) * 10 + (n != 0) * 100", (A < B) + (A == B) * 10.0 + (N != 0) * 100.0),
    ("1e1 * .5 * a", 5 * A),
    ("log(a - a) + exp(1000 * b) / exp(1000 * b)", np.where(np.exp(np.minimum(1000 * B, 80)) > 0, 1.0, 0.0)),
])
def test_expression_matches_numpy(expression, reference):
    got = run(expression)
    assert got.shape == (5, 1)
    np.testing.assert_allclose(got[:, 0], reference, rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(got))


def test_normalizer_and_buckets():
    got = run("a * 2", "normalizer { mean: 1 std: 2 }")
    np.testing.assert_allclose(got[:, 0], (2 * A - 1) / 2, rtol=1e-6)
    col = column("a", "boundaries: [0, 1] embedding_dim: 2")
    table = tf.constant([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    out = col({"a": tf.constant(A)}, {"x": table}).numpy()
    np.testing.assert_array_equal(out[:, 0], np.digitize(A, [0, 1]))
    assert col.table_spec() == ("x", 3, 2) and col.input_names == ["a"]


@pytest.mark.parametrize("text, column, message", [
    ("a + )", 5, "found ')'"),
    ("a +", 4, "the end of the expression"),
    ("foo(a)", 1, "unknown function 'foo'"),
    ("min(a)", 1, "min takes at least 2 arguments"),
    ("a $ b", 3, "unexpected character '$'"),
    ("a < b < c", 7, "second comparison"),
    ("(a", 3, 'expected ")"'),
    ("log a", 5, '"(" after the function log'),
    ("1.2.3", 4, "after a complete expression"),
    ("", 1, "the end of the expression"),
])
def test_syntax_errors_point_at_the_character(text, column, message):
    with pytest.raises(expression_grammar.ExpressionError) as info:
        expression_grammar.parse(text)
    assert info.value.column == column and message in str(info.value)
    marked = text[:column - 1] + ">>" + text[column - 1:column] + "<<" + text[column:]
    assert str(info.value).endswith(": " + marked)


def config_error(expression, tmp_path):
    text = (open(BASE, encoding="utf-8").read()
            + f'\nfeature_configs {{ expr_feature {{ name: "x" expression: "{expression}" }} }}\n')
    path = str(tmp_path / "expr_case.config")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    with pytest.raises(ConfigError) as info:
        config_lib.load_config(path)
    return info.value, text.count("\n")


@pytest.mark.parametrize("expression, column, message", [
    ("log(age) + * 2", 12, "expected a number"),
    ("age / nope", 7, "'nope' is not among data_config.input_fields"),
    ("age + education", 7, "'education' is not a FLOAT or INT64 field"),
    ("income_gt_50k * 2", 1, "is a label"),
    ("1 + 2", None, "reads no input field"),
])
def test_config_errors_name_file_line_field_and_column(expression, column, message, tmp_path):
    error, line = config_error(expression, tmp_path)
    assert error.path == "feature_configs[3].expr_feature.expression", error.path
    assert error.file == str(tmp_path / "expr_case.config") and error.line == line
    assert message in error.message
    if column:
        assert f"column {column}:" in error.message
        marked = expression[:column - 1] + ">>" + expression[column - 1:column] + "<<" + expression[column:]
        assert error.message.endswith(": " + marked + "."), error.message
