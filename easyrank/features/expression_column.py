"""expr_feature (issue 28): an arithmetic expression over numeric inputs, as TensorFlow ops.

The tree comes from easyrank/protos/expression_grammar.py; every operation has a defined
value where plain arithmetic would give inf or NaN (documented in docs/features.md):
x / 0 = 0, log(x <= 0) = 0, log1p(x <= -1) = 0, sqrt(x < 0) = 0, exp(x) = exp(min(x, 80)).
"""

import tensorflow as tf

from easyrank.features.scalar_output import ScalarColumn
from easyrank.protos import expression_grammar

_EXP_MAX = 80.0  # exp(80) ~ 5.5e34 < float32 max


class ExpressionColumn(ScalarColumn):
    """The value of `expression` per row -> [B, 1], or its bucket embedding."""

    def __init__(self, name, expression, normalizer, boundaries, embedding_name, embedding_dim):
        self.tree = expression_grammar.parse(expression)
        self.input_names = sorted({f for f, _ in expression_grammar.fields(self.tree)})
        super().__init__(name, self.input_names[0] if self.input_names else name, normalizer, boundaries,
                         embedding_name, embedding_dim)

    def value(self, features):
        values = {n: tf.reshape(tf.cast(features[n], tf.float32), [-1]) for n in self.input_names}
        return _emit(self.tree, values)


def _emit(node, values):
    if node.kind == "number":
        return tf.constant(node.value, tf.float32)
    if node.kind == "field":
        return values[node.value]
    args = [_emit(child, values) for child in node.children]
    if node.kind == "neg":
        return -args[0]
    if node.kind == "binary":
        a, b = args
        if node.value == "+":
            return a + b
        if node.value == "-":
            return a - b
        if node.value == "*":
            return a * b
        if node.value == "/":
            return tf.math.divide_no_nan(a, b)
        compare = {"<": tf.less, "<=": tf.less_equal, ">": tf.greater, ">=": tf.greater_equal,
                   "==": tf.equal, "!=": tf.not_equal}[node.value]
        return tf.cast(compare(a, b), tf.float32)
    name, x = node.value, args[0]
    if name == "log":
        return tf.where(x > 0, tf.math.log(tf.where(x > 0, x, 1.0)), 0.0)
    if name == "log1p":
        return tf.where(x > -1, tf.math.log1p(tf.where(x > -1, x, 0.0)), 0.0)
    if name == "sqrt":
        return tf.sqrt(tf.maximum(x, 0.0))
    if name == "exp":
        return tf.exp(tf.minimum(x, _EXP_MAX))
    if name == "abs":
        return tf.abs(x)
    reduce = tf.minimum if name == "min" else tf.maximum
    result = args[0]
    for other in args[1:]:
        result = reduce(result, other)
    return result
