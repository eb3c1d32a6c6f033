"""Importing the modules a user names for their own layers (custom blocks).

This is easyrank's one import by name, and only of what the user asked for by
name for this purpose: the --import_modules flag and PipelineConfig.import_modules
(docs/custom_layers.md). Importing a module runs its code, so it is trusted
like any installed dependency. Config blocks never name code: a custom block
names a class only through the tf_keras registration the module makes.
"""

import importlib
import re

from easyrank.errors import ConfigError

_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


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
