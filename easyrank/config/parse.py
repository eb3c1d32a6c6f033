"""Load, override and validate a pipeline config.

    config = load_config("samples/configs/census_mlp.config",
                         edit_config_json='{"train_config.num_epochs": 1}')

Parsing is strict (`text_format.Parse`: unknown fields and repeated singular
fields are errors). Every problem raises `ConfigError`, which names the file,
the line where the parser or `locate_line` knows it, and the field path, e.g.
`model_config.feature_groups[0].feature_names[2]`.
"""

import json
import re
import types

from google.protobuf import descriptor, json_format, text_format

from easyrank.config.validation import validate
from easyrank.errors import ConfigError
from easyrank.protos import pipeline_pb2

__all__ = ["ConfigError", "load_config", "parse_config", "apply_edits", "locate_line", "locate_span",
           "validate", "attach_location"]

# Fields renamed on purpose: (full message name, old field name) -> (new name, why).
# An old config gets an error that names the new field, never a silent change.
RENAMED_FIELDS = types.MappingProxyType({
    ("easyrank.protos.DCNMix", "low_rank"): (
        "projection_dim", "the name of the low-rank dimension in Cross, MaskNet and "
        "tensorflow-recommenders"),
})

_UNKNOWN_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')


def load_config(path, edit_config_json=None, allow_unfilled=False):
    """Reads, overrides and validates the config at `path`.

    allow_unfilled: accept what is left to `python -m easyrank.stats` (validate()).
    """
    data = read_config_bytes(path)
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark is accepted
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
                          "save the config as UTF-8.", file=path, line=line) from None
    config = parse_config(text, file=path)
    if edit_config_json:
        apply_edits(config, edit_config_json)
    try:
        validate(config, allow_unfilled=allow_unfilled)
    except ConfigError as e:
        e.file = e.file or path
        if e.line is None:
            e.line = locate_line(text, e.path)
        raise
    return config


def read_config_bytes(path):
    """The bytes of the config file at `path`, read without TensorFlow when local (io/early.py);
    ConfigError when it cannot be read."""
    from easyrank.io import early
    try:
        return early.read_bytes(path)
    except OSError as e:
        raise ConfigError(f"cannot read the config file: {e}.", file=path) from None


def parse_config(text, file="<string>"):
    """Parses text-format `text` into a PipelineConfig (no validation)."""
    config = pipeline_pb2.PipelineConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        message = str(e)
        match = re.match(r"^(\d+):(\d+) : (.*)$", message, re.S)
        line, message = (int(match.group(1)), match.group(3)) if match else (None, message)
        unknown = _UNKNOWN_FIELD.search(message)
        hint = unknown and renamed_field_hint(*unknown.groups())
        raise ConfigError(
            f"{message} {hint or 'Check the field name and value against protos/easyrank/protos/.'}",
            file=file, line=line) from None
    return config


def renamed_field_hint(message_name, field_name):
    """Says what `field_name` of message `message_name` is called now, or returns None."""
    renamed = RENAMED_FIELDS.get((message_name, field_name))
    if renamed is None:
        return None
    new_name, why = renamed
    short = message_name.rsplit(".", 1)[-1]
    return (f"{short}.{field_name} was renamed {new_name}, {why}: write "
            f"`{new_name}: ...` in its place, with the same value.")


# --------------------------------------------------------------------------- #
# --edit_config_json
# --------------------------------------------------------------------------- #

_PATH_PART = re.compile(r"^([A-Za-z_]\w*)(?:\[(\d+)\])?$")


def apply_edits(config, edit_config_json):
    """Applies {"a.b[0].c": value} overrides to `config` in place."""
    source = "--edit_config_json"
    try:
        edits = json.loads(edit_config_json, parse_constant=_reject_constant) \
            if isinstance(edit_config_json, str) else edit_config_json
    except _NonFinite as e:
        raise ConfigError(f"{e} is not a finite number; config numbers must be finite.",
                          file=source) from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"is not valid JSON: {e}.", file=source) from None
    if not isinstance(edits, dict):
        raise ConfigError('must be a JSON object such as {"train_config.num_epochs": 1}.', file=source)
    for key, value in edits.items():
        try:
            _apply_edit(config, key, value)
        except ConfigError as e:
            e.file = source
            raise
        except (json_format.ParseError, TypeError, ValueError) as e:
            raise ConfigError(f"cannot set {value!r}: {e}", path=key, file=source) from None


class _NonFinite(ValueError):
    pass


def _reject_constant(name):
    """json.loads hook for NaN, Infinity and -Infinity, which no config field may hold."""
    raise _NonFinite(name)


def _apply_edit(config, key, value):
    parts = key.split(".")
    message = config
    for depth, part in enumerate(parts):
        match = _PATH_PART.match(part)
        field = match and message.DESCRIPTOR.fields_by_name.get(match.group(1))
        if field is None:
            hint = match and renamed_field_hint(message.DESCRIPTOR.full_name, match.group(1))
            raise ConfigError(
                f"unknown field {part!r} in {message.DESCRIPTOR.name}; " + (hint or (
                    f"valid fields: {', '.join(sorted(message.DESCRIPTOR.fields_by_name))}.")),
                path=key)
        index = None if match.group(2) is None else int(match.group(2))
        last = depth == len(parts) - 1
        repeated = field.is_repeated
        is_message = field.type == descriptor.FieldDescriptor.TYPE_MESSAGE
        if index is not None:
            if not repeated:
                raise ConfigError(f"{field.name} is not repeated; drop the [index].", path=key)
            container = getattr(message, field.name)
            if index >= len(container):
                raise ConfigError(f"index {index} out of range: {field.name} has "
                                  f"{len(container)} entries.", path=key)
            if not last:
                message = container[index]
                continue
            if is_message:
                container[index].Clear()
                json_format.ParseDict(value, container[index])
            else:
                container[index] = _scalar(field, value)
            return
        if not last:
            if repeated or not is_message:
                raise ConfigError(f"{field.name} needs an [index] or is not a message.", path=key)
            message = getattr(message, field.name)
            continue
        if repeated:
            if not isinstance(value, list):
                raise ConfigError(f"{field.name} is repeated: give a JSON list.", path=key)
            message.ClearField(field.name)
            container = getattr(message, field.name)
            for item in value:
                if is_message:
                    json_format.ParseDict(item, container.add())
                else:
                    container.append(_scalar(field, item))
        elif is_message:
            message.ClearField(field.name)
            json_format.ParseDict(value, getattr(message, field.name))
        else:
            setattr(message, field.name, _scalar(field, value))


def _scalar(field, value):
    if field.type == descriptor.FieldDescriptor.TYPE_ENUM and isinstance(value, str):
        enum_value = field.enum_type.values_by_name.get(value)
        if enum_value is None:
            raise ConfigError(f"{value!r} is not one of "
                              f"{', '.join(field.enum_type.values_by_name)}.")
        return enum_value.number
    return value


# --------------------------------------------------------------------------- #
# Field path -> line number in the text
# --------------------------------------------------------------------------- #

_TOKEN = re.compile(r'\s+|#[^\n]*|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|[{}\[\]<>:,;]|[^\s{}\[\]<>:,;"\'#]+')


def locate_line(text, path):
    """Returns the 1-based line of field `path` in config `text`, or None.

    Falls back to the closest enclosing field that appears in the text.
    """
    lines = _field_lines(text)
    path = re.sub(r"\([^)]*\)", "", path or "")  # drop annotations like (name="x")
    while path:
        if path in lines:
            return lines[path]
        path = re.sub(r"(\[\d+\]|\.?[^.\[]+)$", "", path)
    return None


def locate_span(text, path):
    """(start, end) character offsets of message field `path` in `text`, from its name
    to its closing brace, or None when the text does not hold it as one `name { ... }`."""
    return _scan(text)[1].get(path)


def _field_lines(text):
    """Maps every field path present in `text` to its line (a tolerant scan)."""
    return _scan(text)[0]


def _scan(text):
    """({field path: line}, {message field path: (start, end) offsets}) of `text`."""
    tokens = []
    for match in _TOKEN.finditer(text):
        tok = match.group(0)
        if not tok.isspace() and not tok.startswith("#"):
            tokens.append((tok, text.count("\n", 0, match.start()) + 1, match.start(), match.end()))
    result, spans = {}, {}
    stack = [("", {}, pipeline_pb2.PipelineConfig.DESCRIPTOR, 0)]
    i = 0
    while i < len(tokens):
        tok, line, offset, _ = tokens[i]
        prefix, counters, desc, _ = stack[-1]
        if tok in ("}", ">"):
            if len(stack) > 1:
                path, start = stack[-1][0][:-1], stack[-1][3]
                spans.setdefault(path, (start, tokens[i][3]))
                stack.pop()
            i += 1
            continue
        field = desc.fields_by_name.get(tok) if desc is not None else None
        if field is None:
            i += 1
            continue
        i += 1
        if i < len(tokens) and tokens[i][0] == ":":
            i += 1
        repeated = field.is_repeated

        def next_path(name=tok):
            if not repeated:
                return f"{prefix}{name}"
            counters[name] = counters.get(name, -1) + 1
            return f"{prefix}{name}[{counters[name]}]"

        value = tokens[i][0] if i < len(tokens) else ""
        if value in ("{", "<"):
            path = next_path()
            result.setdefault(path, line)
            stack.append((path + ".", {}, field.message_type, offset))
            i += 1
        elif value == "[":
            i += 1
            while i < len(tokens) and tokens[i][0] != "]":
                if tokens[i][0] != ",":
                    result.setdefault(next_path(), tokens[i][1])
                i += 1
            result.setdefault(f"{prefix}{tok}", line)
            i += 1
        else:
            result.setdefault(next_path(), line)
            if repeated:
                result.setdefault(f"{prefix}{tok}", line)
            i += 1
    return result, spans


def attach_location(error, config_path):
    """Fills a ConfigError raised after loading (e.g. by a builder) with file and line."""
    if error.file is None and config_path:
        error.file = config_path
        try:
            error.line = locate_line(read_config_bytes(config_path).decode("utf-8-sig", errors="replace"),
                                     error.path)
        except Exception:  # noqa: BLE001 - the location is a courtesy; the error is reported anyway
            pass
    return error
