"""Which modules a config may import: only those the command line asks for."""

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank.config import modules
from easyrank.errors import ConfigError
from easyrank.protos import pipeline_pb2


def config_with(*names):
    config = pipeline_pb2.PipelineConfig()
    config.import_modules.extend(names)
    return config


def test_modules_the_command_line_names_pass():
    modules.authorize(config_with("a.b", "c"), ["c", "a.b"])
    modules.authorize(config_with("a.b"), [], trusted=True)
    modules.authorize(config_with(), [])


def test_a_module_only_the_config_names_is_refused_naming_the_field_and_the_flags():
    with pytest.raises(ConfigError) as error:
        modules.authorize(config_with("ok", "evil", "worse"), ["ok"], config_file="x.config")
    assert error.value.path == "import_modules[1]"
    assert "--import_modules evil,worse (or --trust_config x.config)" in str(error.value)


def test_unasked_lists_what_check_export_must_not_import():
    assert modules.unasked(config_with("a", "b"), ["b"]) == [(0, "a")]
    assert modules.unasked(config_with("a"), [], trusted=True) == []


def test_same_file(tmp_path):
    (tmp_path / "x.config").write_text("")
    assert modules.same_file(str(tmp_path / "x.config"), str(tmp_path / "." / "x.config"))
    assert not modules.same_file(None, str(tmp_path / "x.config"))
    assert not modules.same_file(str(tmp_path / "y.config"), str(tmp_path / "x.config"))
