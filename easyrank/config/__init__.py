"""The config language: parse a .config, apply --edit_config_json, validate once."""

from easyrank.config.parse import (
                                   apply_edits,
                                   attach_location,
                                   load_config,
                                   locate_line,
                                   locate_span,
                                   parse_config,
)
from easyrank.config.validation import validate

__all__ = ["apply_edits", "attach_location", "load_config", "locate_line", "locate_span", "parse_config",
           "validate"]
