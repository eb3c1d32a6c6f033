"""Config parsing, overrides, validation and golden error messages."""

import glob
import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import pytest

from easyrank import config as config_lib
from easyrank.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BASE = os.path.join(HERE, "configs", "base.config")

# file -> (line, field path, message fragment)
GOLDEN = {
    "unknown_feature_in_group": (17, "model_config.feature_groups[0].feature_names[1]", "unknown feature 'educaton'"),
    "duplicate_feature": (15, "feature_configs[2].id_feature.name", "duplicate feature name 'education'"),
    "label_not_input": (10, "data_config.label_fields[0]", "label 'income' is not among input_fields"),
    "block_input_unknown": (19, "model_config.backbone.blocks[0].inputs[0].block", "no block named 'top'"),
    "cycle": (19, "model_config.backbone.blocks[0]", "cycle: a -> b -> a"),
    "block_without_params": (19, "model_config.backbone.blocks[0].mlp.hidden_units", "mlp needs hidden_units"),
    "typo_field": (19, "", 'no field named "hiden_units"'),
    "renamed_field": (19, "", "DCNMix.low_rank was renamed projection_dim"),
    "wrong_type": (23, "", "Couldn't parse integer"),
    "block_without_type": (19, "model_config.backbone.blocks[0]", "has no layer type; set one of"),
    "id_without_vocabulary": (14, "feature_configs[1].id_feature", "set exactly one of hash_bucket_size"),
    "duplicate_input_field": (9, "data_config.input_fields[3].name", "duplicate input field name 'sex'"),
    # Non-finite numbers, found by walking every float field of the config.
    "nan_learning_rate": (23, "train_config.optimizer.adam.learning_rate", "must be a finite number"),
    "inf_normalizer_std": (13, "feature_configs[0].raw_feature.normalizer.std", "Received: inf"),
    "overflowing_boundary": (13, "feature_configs[0].raw_feature.boundaries[1]", "|x| < 3.4e38"),
    # Enums left at *_UNSPECIFIED.
    "unspecified_type": (6, "data_config.input_fields[0].type", "TYPE_UNSPECIFIED is not a valid choice"),
    "unspecified_loss": (21, "model_config.tasks[0].loss", "set one of BINARY_CROSS_ENTROPY"),
    # Settings that cannot be what the user meant.
    "negative_num_steps": (23, "train_config.num_steps", "Received: -5"),
    "negative_oov_buckets": (15, "feature_configs[2].id_feature.num_oov_buckets", "must be at least 1"),
    "duplicate_vocabulary": (15, "feature_configs[2].id_feature.vocab_list[2]", "duplicate vocabulary entry 'Male'"),
    "feature_twice_in_group": (17, "model_config.feature_groups[0].feature_names[2]", "'age' is listed twice"),
    "best_metric_never_reported": (24, "export_config.metric", "never reports 'income/aucc'"),
    "negative_export_keep": (24, "export_config.keep", "must be non-negative"),
    "none_exporter_with_export_dir": (24, "export_config.export_dir", "exporter NONE exports nothing"),
    "bad_model_name": (24, "export_config.model_name", "is not a TF Serving model name"),
    "negative_warmup_rows": (24, "export_config.num_warmup_rows", "must be non-negative"),
    "negative_clip_norm": (23, "train_config.optimizer.clip_norm", "Received: -1.0"),
    "negative_keep_checkpoint_max": (23, "train_config.keep_checkpoint_max", "must be positive"),
    "negative_warmup_steps": (23, "train_config.optimizer.adam.schedule.warmup_steps", "Received: -10"),
    "negative_eval_batch_size": (24, "eval_config.batch_size", "Received: -8"),
    "zero_shuffle_buffer": (11, "data_config.shuffle_buffer_size", "must be positive"),
    "positive_ftrl_learning_rate_power": (23, "train_config.optimizer.ftrl.learning_rate_power",
                                          "must be 0 or negative"),
    "non_ascii_block_name": (19, "model_config.backbone.blocks[0].name", "is not a usable name"),
    "dynamic_table_too_large": (14, "feature_configs[1].id_feature.dynamic.capacity",
                                "the embedding tables need"),
    "table_too_large": (14, "feature_configs[1].id_feature.hash_bucket_size", "the embedding tables need 7,152.6 GiB"),
}


def load_and_build(path):
    """What the CLIs do first: load, validate, build the model (builders check block params)."""
    from easyrank.models import build_model
    config = config_lib.load_config(path)
    try:
        build_model(config)
    except ConfigError as e:
        raise config_lib.attach_location(e, path) from e
    return config


def test_base_config_is_valid():
    load_and_build(BASE)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "samples", "configs", "*.config"))))
def test_sample_configs_parse_and_validate(path):
    config = config_lib.load_config(path)
    assert config.model_config.tasks or config.model_config.HasField("retrieval")


def test_every_bad_config_has_a_golden_error():
    names = {os.path.basename(p)[:-len(".config")] for p in glob.glob(os.path.join(HERE, "configs", "bad", "*.config"))}
    assert names == set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_bad_config_golden_error(name):
    line, path, fragment = GOLDEN[name]
    file = os.path.join(HERE, "configs", "bad", name + ".config")
    with pytest.raises(ConfigError) as info:
        load_and_build(file)
    error = info.value
    assert error.file == file
    assert error.line == line, str(error)
    assert error.path == path, str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"{file}:{line}: ")


def test_edit_config_json_sets_scalars_lists_and_indexed_fields():
    config = config_lib.load_config(BASE, edit_config_json=(
        '{"train_config.num_epochs": 3, "data_config.batch_size": 7,'
        ' "model_config.backbone.blocks[0].mlp.hidden_units": [16, 4],'
        ' "model_config.tasks[0].metrics": ["AUC", "LOGLOSS"],'
        ' "train_config.optimizer": {"sgd": {"learning_rate": 0.5}}}'))
    assert config.train_config.num_epochs == 3
    assert config.data_config.batch_size == 7
    assert list(config.model_config.backbone.blocks[0].mlp.hidden_units) == [16, 4]
    assert len(config.model_config.tasks[0].metrics) == 2
    assert config.train_config.optimizer.sgd.learning_rate == pytest.approx(0.5)


@pytest.mark.parametrize("edit, fragment", [
    ('{"train_config.num_epoch": 1}', "unknown field 'num_epoch'"),
    ('{"model_config.backbone.blocks[0].dcn_mix.low_rank": 8}', "was renamed projection_dim"),
    ('{"model_config.tasks[3].name": "x"}', "index 3 out of range"),
    ('{"train_config.num_epochs": "x"}', "cannot set"),
    ('[1, 2]', "must be a JSON object"),
    ('{bad json', "is not valid JSON"),
    ('{"train_config.num_epochs": 0}', "set num_epochs or num_steps"),
])
def test_edit_config_json_errors(edit, fragment):
    with pytest.raises(ConfigError, match=None) as info:
        config_lib.load_config(BASE, edit_config_json=edit)
    assert fragment in str(info.value)


@pytest.mark.parametrize("edit", [
    '{"train_config.optimizer": {"adam": {"learning_rate": NaN}}}',
    '{"model_config.tasks[0].loss_weight": Infinity}',
    '{"model_config.tasks[0].loss_weight": -Infinity}',
])
def test_edit_config_json_rejects_non_finite_numbers(edit):
    with pytest.raises(ConfigError) as info:
        config_lib.load_config(BASE, edit_config_json=edit)
    assert info.value.file == "--edit_config_json"
    assert "is not a finite number" in str(info.value)


def test_config_with_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.config"
    path.write_bytes(b"\xef\xbb\xbf" + open(BASE, "rb").read())
    assert config_lib.load_config(str(path)).data_config.batch_size == 32


def test_config_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.config"
    path.write_bytes(open(BASE, "rb").read().replace(b'"sex"', b'"s\xe9x"', 1))
    with pytest.raises(ConfigError) as info:
        config_lib.load_config(str(path))
    assert info.value.line == 8 and "is not UTF-8 text (byte 0xe9" in str(info.value)


def test_duplicate_vocab_file_entry(tmp_path):
    from easyrank.models import build_model
    vocab = tmp_path / "sex.txt"
    vocab.write_text("Male\nFemale\nMale\n")
    config = config_lib.load_config(BASE, edit_config_json=(
        '{"feature_configs[2].id_feature": {"name": "sex", "vocab_file": "%s", "embedding_dim": 4}}' % vocab))
    with pytest.raises(ConfigError) as info:
        build_model(config)
    assert info.value.path == "feature_configs[2].id_feature.vocab_file"
    assert "line 3: duplicate vocabulary entry 'Male' (also line 1)" in str(info.value)


def test_locate_line_finds_nested_repeated_fields():
    text = open(BASE).read()
    assert config_lib.locate_line(text, "data_config.input_fields[2].name") == 8
    assert config_lib.locate_line(text, "model_config.tasks[0].metrics[0]") == 21
    assert config_lib.locate_line(text, "model_config.feature_groups[0].feature_names[2]") == 17
    # A field that is absent points at its closest enclosing field.
    assert config_lib.locate_line(text, "train_config.seed") == 23


def test_missing_config_file():
    with pytest.raises(ConfigError, match="cannot read the config file"):
        config_lib.load_config("/nonexistent/x.config")
