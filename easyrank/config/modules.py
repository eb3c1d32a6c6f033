"""Importing the modules a user names for their own layers (custom blocks).

This is easyrank's one import by name, and only of what the user asked for on
the command line (docs/custom_layers.md): --import_modules, or
PipelineConfig.import_modules of a config that --trust_config names. A file
alone never makes code run: a config (or an export's pipeline.config) listing
modules the command line did not ask for is refused (`authorize`). Importing a
module runs its code, so it is trusted like any installed dependency. Config
blocks never name code: a custom block names a class only through the tf_keras
registration the module makes. Every import is logged.
"""

import importlib
import logging
import os
import re

from easyrank.errors import ConfigError

_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
logger = logging.getLogger(__name__)


def same_file(a, b):
    """Whether two paths name one file (--trust_config against --pipeline_config_path)."""
    if not a or not b:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def unasked(config, asked, trusted=False):
    """[(index, name)] of config.import_modules that the command line did not ask for."""
    if trusted:
        return []
    return [(i, n) for i, n in enumerate(config.import_modules) if n not in set(asked or ())]


def authorize(config, asked, trusted=False, config_file=None):
    """ConfigError when the config lists a module that neither --import_modules names nor
    --trust_config (`trusted`) allows: a file alone never makes easyrank run code."""
    refused = unasked(config, asked, trusted)
    if not refused:
        return
    i, name = refused[0]
    names = ",".join(n for _, n in refused)
    raise ConfigError(
        f"the config asks to import module {name!r}, and importing runs its code; easyrank "
        "imports only the modules named on the command line. If you trust this config, run "
        f"again with --import_modules {names}"
        + (f" (or --trust_config {config_file})" if config_file else "")
        + "; otherwise remove import_modules from the config.", path=f"import_modules[{i}]")


def merge_import_modules(config, names):
    """Appends `names` (e.g. from --import_modules) to config.import_modules, once each."""
    for name in names or ():
        if name not in config.import_modules:
            config.import_modules.append(name)


def import_modules(names, path="import_modules"):
    """Imports each module of `names`; a module that is not found is a ConfigError."""
    for i, name in enumerate(names):
        where = f"{path}[{i}]"
        if not _MODULE_NAME.match(name):
            raise ConfigError(f"{name!r} is not a module name; give a dotted module path such as "
                              "my_pkg.layers.", path=where)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise  # the module was found but imports something missing: show where
            raise ConfigError(f"cannot import module {name!r} ({e}); it must be importable from "
                              "sys.path, e.g. installed or on PYTHONPATH.", path=where) from None
    if names:
        logger.info("Imported modules (asked on the command line): %s", ", ".join(names))
