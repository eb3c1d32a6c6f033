"""The config text with filled-in features, keeping everything else as written.

Each filled feature_configs entry is re-printed in place of its original text
(found with config.locate_span), on one line if it was on one line; comments
outside those entries, the order of fields and the layout of the rest of the
file are kept. Comments inside a re-printed entry are lost.
"""

from google.protobuf import text_format

from easyrank.config import locate_span


def rewrite(text, config, paths, header=""):
    """`text` with the feature_configs entries at `paths` printed from `config`.

    Returns None when an entry cannot be found in the text (e.g. it came from
    an override); the caller then prints the whole config instead.
    """
    edits = []
    for path in paths:
        span = locate_span(text, path)
        if span is None:
            return None
        index = int(path[path.index("[") + 1:path.index("]")])
        edits.append((span, _entry(config.feature_configs[index], text, span)))
    for (start, end), replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return header + text


def _entry(message, text, span):
    start, end = span
    if "\n" not in text[start:end]:
        return "feature_configs { " + text_format.MessageToString(message, as_one_line=True) + " }"
    indent = start - (text.rfind("\n", 0, start) + 1)
    body = text_format.MessageToString(message, indent=indent + 2)
    return "feature_configs {\n" + body + " " * indent + "}"
