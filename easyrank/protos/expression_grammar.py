"""The grammar of expr_feature.expression (issue 28): a tokenizer and a recursive-descent parser.

Pure Python, so that the config checks (easyrank/config) and the column that turns the
tree into TensorFlow ops (easyrank/features/expression_column.py) share one definition.
Nothing is ever evaluated as Python.

    expression := comparison
    comparison := sum [("<" | "<=" | ">" | ">=" | "==" | "!=") sum]
    sum        := product {("+" | "-") product}
    product    := unary {("*" | "/") unary}
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | FIELD | FUNCTION "(" expression {"," expression} ")" | "(" expression ")"

NUMBER: 12, 0.5, .5, 1e-3. FIELD: an input field name ([A-Za-z_][A-Za-z0-9_.]*).
FUNCTION: log, log1p, exp, sqrt, abs (one argument), min, max (two or more).
"""

import collections
import re

# name -> (least, most) arguments
FUNCTIONS = {"log": (1, 1), "log1p": (1, 1), "exp": (1, 1), "sqrt": (1, 1), "abs": (1, 1),
             "min": (2, None), "max": (2, None)}
COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")

# kind: "number" (value float), "field" (value name), "neg" (children [x]),
# "binary" (value the operator, children [a, b]), "call" (value the function, children args).
# column: 1-based position of the node's first character in the text.
Node = collections.namedtuple("Node", ["kind", "value", "children", "column"])

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
                    r"|(?P<op><=|>=|==|!=|[-+*/(),<>]))")


def mark(text, column):
    """`text` with the character at `column` (1-based) between >> and << (one line, so that a
    one-paragraph error message keeps it): "a + >>)<<"."""
    i = column - 1
    return f"{text[:i]}>>{text[i:i + 1]}<<{text[i + 1:]}"


class ExpressionError(ValueError):
    """A syntax error at `column` (1-based) of `text`; str() names the column and marks it."""

    def __init__(self, message, text, column):
        self.column = column
        self.text = text
        super().__init__(f"column {column}: {message}: {mark(text, column)}")


def tokenize(text):
    """[(kind, text, column)] ending with ("end", "", column); kind: number, name or op."""
    tokens, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            tokens.append(("end", "", position + 1))
            return tokens
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ExpressionError(f"unexpected character {text[position]!r}", text, position + 1)
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        position = match.end()


def parse(text):
    """The tree (Node) of `text`; raises ExpressionError at the first bad character."""
    parser = _Parser(text)
    node = parser.expression()
    kind, value, column = parser.peek()
    if kind != "end":
        raise ExpressionError(f"unexpected {value!r} after a complete expression", text, column)
    return node


def fields(node):
    """[(field name, column)] of the fields the tree reads, in order of appearance."""
    if node.kind == "field":
        return [(node.value, node.column)]
    return [f for child in node.children for f in fields(child)]


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self):
        return self.tokens[self.position]

    def take(self):
        token = self.tokens[self.position]
        self.position += 1
        return token

    def fail(self, expected):
        kind, value, column = self.peek()
        found = "the end of the expression" if kind == "end" else repr(value)
        raise ExpressionError(f"expected {expected}, found {found}", self.text, column)

    def expression(self):
        left = self.sum()
        kind, value, column = self.peek()
        if kind == "op" and value in COMPARISONS:
            self.take()
            right = self.sum()
            if self.peek()[0] == "op" and self.peek()[1] in COMPARISONS:
                raise ExpressionError("a second comparison needs parentheses, e.g. (a < b) == 1",
                                      self.text, self.peek()[2])
            return Node("binary", value, [left, right], left.column)
        return left

    def sum(self):
        node = self.product()
        while self.peek()[0] == "op" and self.peek()[1] in "+-":
            op = self.take()[1]
            node = Node("binary", op, [node, self.product()], node.column)
        return node

    def product(self):
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            node = Node("binary", op, [node, self.unary()], node.column)
        return node

    def unary(self):
        kind, value, column = self.peek()
        if kind == "op" and value in "+-":
            self.take()
            operand = self.unary()
            return operand if value == "+" else Node("neg", None, [operand], column)
        return self.primary()

    def primary(self):
        kind, value, column = self.peek()
        if kind == "number":
            self.take()
            return Node("number", float(value), [], column)
        if kind == "name":
            self.take()
            if not (self.peek()[0] == "op" and self.peek()[1] == "("):
                if value in FUNCTIONS:
                    self.fail(f'"(" after the function {value}')
                return Node("field", value, [], column)
            if value not in FUNCTIONS:
                raise ExpressionError(f"unknown function {value!r} (known: {', '.join(sorted(FUNCTIONS))})",
                                      self.text, column)
            self.take()
            args = [self.expression()]
            while self.peek()[0] == "op" and self.peek()[1] == ",":
                self.take()
                args.append(self.expression())
            if not (self.peek()[0] == "op" and self.peek()[1] == ")"):
                self.fail('"," or ")"')
            self.take()
            least, most = FUNCTIONS[value]
            if len(args) < least or (most is not None and len(args) > most):
                wanted = f"{least}" if least == most else f"at least {least}"
                raise ExpressionError(f"{value} takes {wanted} argument{'s' if least > 1 else ''}, "
                                      f"not {len(args)}", self.text, column)
            return Node("call", value, args, column)
        if kind == "op" and value == "(":
            self.take()
            node = self.expression()
            if not (self.peek()[0] == "op" and self.peek()[1] == ")"):
                self.fail('")"')
            self.take()
            return node
        self.fail('a number, a field name, a function or "("')
