"""expr_feature: arithmetic over numeric fields by easyrank's own grammar (never eval), as a
number or a bucket id (features/expression_column.ExpressionColumn)."""

from easyrank.config.feature_kinds import numbers, spec
from easyrank.errors import ConfigError
from easyrank.protos import expression_grammar


def validate(feature, context, path):
    numbers.check_nonempty(feature, path, "expression")
    try:
        tree = expression_grammar.parse(feature.expression)
    except expression_grammar.ExpressionError as e:
        raise ConfigError(f"the expression does not parse: {e}.", path=path + ".expression") from None
    names = expression_grammar.fields(tree)
    if not names:
        raise ConfigError("the expression reads no input field; a constant is not a feature.",
                          path=path + ".expression")
    for name, column in names:
        field = context.fields.get(name)
        if (field is None or name in context.labels or field.type not in (numbers.FLOAT, numbers.INT64)
                or field.length):
            what = ("is not among data_config.input_fields" if field is None else "is a label or sample weight"
                    if name in context.labels else "is not a FLOAT or INT64 field of one value per row")
            raise ConfigError(f"column {column}: {name!r} {what}: "
                              f"{expression_grammar.mark(feature.expression, column)}.", path=path + ".expression")
    numbers.check_output(feature, path)


def inputs(feature):
    """The fields the expression names, in order (none while it does not parse: validate says why)."""
    try:
        names = expression_grammar.fields(expression_grammar.parse(feature.expression))
    except expression_grammar.ExpressionError:
        return []
    return list(dict.fromkeys((name, None) for name, _ in names))


SPEC = spec.KindSpec(oneof="expr_feature", validate=validate, table=numbers.table, inputs=inputs)
