"""The two kinds of user error: a bad config and bad data."""


class ConfigError(ValueError):
    """A config problem, with the field path and (when known) file and line."""

    def __init__(self, message, path="", file=None, line=None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.file = file
        self.line = line

    def __str__(self):
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"


class DataError(ValueError):
    """Input data that cannot be read: a missing file, a malformed row."""


def eval_input_path_unset():
    """The ConfigError of a run without eval_input_path (raised before TensorFlow's import by the
    train CLI, and by evaluator.eval_dataset)."""
    return ConfigError("is not set: a run ends with an evaluation (eval_result.json, the "
                       "exporters' metrics); set it to held-out data (or, to only check that "
                       "training runs, to the training data).", path="eval_input_path")
