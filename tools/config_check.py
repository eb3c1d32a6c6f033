"""Checks configs without training: parse, validate, build the model, report parameters.

    python tools/config_check.py samples/configs/*.config

Exits 0 when every config is valid; otherwise prints one paragraph per bad
config (file:line: field path: problem) and exits 2.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import easyrank  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS first)

# isort: split
from easyrank import config as config_lib  # noqa: E402
from easyrank.errors import ConfigError  # noqa: E402


def check(path):
    """Returns (number of parameters, None) or (None, error message)."""
    from easyrank.models import build_model
    try:
        config = config_lib.load_config(path)
        model = build_model(config)
    except ConfigError as e:
        return None, str(config_lib.attach_location(e, path))
    return model.count_params(), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", help=".config files")
    args = parser.parse_args()
    failed = 0
    for path in args.configs:
        params, error = check(path)
        if error:
            failed += 1
            print(f"FAIL {error}")
        else:
            print(f"ok   {path}: {params:,} parameters")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
