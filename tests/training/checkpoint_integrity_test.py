"""Damaged checkpoints: resuming falls back to the newest intact one; a warm start refuses."""

import logging
import os
import shutil
import sys

import easyrank  # noqa: F401

# isort: split
import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import warm_start_test as base  # noqa: E402

from easyrank.errors import DataError  # noqa: E402
from easyrank.training import checkpoint_integrity, model_state, warm_start  # noqa: E402

DENSE = base.DENSE.format("deep")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """model_dir with ckpt-2 and ckpt-4 of a tiny model (the steps' updates stood in for by
    random changes of every variable: a training step would cost seconds of tracing)."""
    tmp_path = tmp_path_factory.mktemp("saved")
    base.write_csv(tmp_path / "data.csv")
    config = base.load(tmp_path, "m")
    model, checkpoint = base.build(config)
    model_dir = str(tmp_path / "m")
    manager = tf.train.CheckpointManager(checkpoint, model_dir, max_to_keep=5,
                                         step_counter=model.optimizer.iterations)
    kernels, generator = {}, np.random.default_rng(0)
    for step in (2, 4):
        for variable in model.trainable_variables:
            variable.assign_add(generator.normal(size=variable.shape).astype(np.float32))
        model.optimizer.iterations.assign(step)
        manager.save(checkpoint_number=step)
        kernels[step] = model.backbone.variables[0].numpy()
    assert sorted(kernels) == [2, 4] and not np.array_equal(kernels[2], kernels[4])
    return tmp_path, kernels


@pytest.fixture()
def two_checkpoints(saved, tmp_path):
    """A copy of the saved model_dir: (tmp_path, model_dir, {step: the first dense kernel})."""
    source, kernels = saved
    shutil.copy(source / "data.csv", tmp_path / "data.csv")
    shutil.copytree(source / "m", tmp_path / "m")
    with open(tmp_path / "m" / "checkpoint", "w") as f:  # the copy's own paths
        f.write(open(source / "m" / "checkpoint").read().replace(str(source), str(tmp_path)))
    return tmp_path, str(tmp_path / "m"), kernels


def data_file(model_dir, step):
    return os.path.join(model_dir, f"ckpt-{step}.data-00000-of-00001")


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    return size


def test_resume_falls_back_to_the_newest_intact_checkpoint(two_checkpoints, caplog):
    tmp_path, model_dir, kernels = two_checkpoints
    size = truncate(data_file(model_dir, 4))
    model, checkpoint = base.build(base.load(tmp_path, "m"))
    with caplog.at_level(logging.WARNING):
        resumed = model_state.restore(checkpoint, model_dir, fall_back=True)
    assert resumed == os.path.join(model_dir, "ckpt-2")
    assert int(model.optimizer.iterations.numpy()) == 2
    np.testing.assert_array_equal(model.backbone.variables[0].numpy(), kernels[2])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"The checkpoint {model_dir}/ckpt-4 is damaged ({data_file(model_dir, 4)} is truncated: "
        f"{size // 2:,} bytes of the {size:,} its index names); resuming from the newest intact "
        f"checkpoint, {model_dir}/ckpt-2."]
    # Without fall_back (evaluate, export): a data error naming the file.
    with pytest.raises(DataError, match=f"The checkpoint {model_dir}/ckpt-4 is damaged: "
                       f"{data_file(model_dir, 4)} is truncated"):
        model_state.restore(base.build(base.load(tmp_path, "m"))[1], model_dir)


def test_no_intact_checkpoint_is_a_data_error_naming_the_files(two_checkpoints):
    tmp_path, model_dir, _ = two_checkpoints
    truncate(data_file(model_dir, 4))
    os.remove(data_file(model_dir, 2))
    _, checkpoint = base.build(base.load(tmp_path, "m"))
    with pytest.raises(DataError) as raised:
        model_state.restore(checkpoint, model_dir, fall_back=True)
    message = str(raised.value)
    assert message.startswith(f"The checkpoint {model_dir}/ckpt-4 is damaged: "
                              f"{data_file(model_dir, 4)} is truncated")
    assert f"; {data_file(model_dir, 2)} is missing, and no older checkpoint is intact. Resuming " \
           "cannot read it" in message


def test_corrupt_bytes_are_found_by_the_checksum_and_skipped(two_checkpoints):
    tmp_path, model_dir, kernels = two_checkpoints
    reader = tf.train.load_checkpoint(os.path.join(model_dir, "ckpt-4"))
    assert reader.get_tensor(DENSE).shape == kernels[4].shape
    entries = checkpoint_integrity.chunked_restore.bundle_entries(os.path.join(model_dir, "ckpt-4"))
    _, entry = entries[DENSE]
    with open(data_file(model_dir, 4), "r+b") as f:  # same size, other bytes in the kernel
        f.seek(entry.offset)
        original = f.read(8)
        f.seek(entry.offset)
        f.write(bytes(b ^ 0xFF for b in original))
    assert checkpoint_integrity.damage(os.path.join(model_dir, "ckpt-4")) is None  # sizes fit
    model, checkpoint = base.build(base.load(tmp_path, "m"))
    assert model_state.restore(checkpoint, model_dir, fall_back=True) == os.path.join(model_dir, "ckpt-2")
    np.testing.assert_array_equal(model.backbone.variables[0].numpy(), kernels[2])


def test_warm_start_from_a_truncated_checkpoint_is_a_data_error(two_checkpoints):
    tmp_path, model_dir, _ = two_checkpoints
    truncate(data_file(model_dir, 4))
    config = base.load(tmp_path, "new", train=f'fine_tune_checkpoint: "{model_dir}"')
    model, checkpoint = base.build(config)
    before = model.backbone.variables[0].numpy()
    with pytest.raises(DataError, match=f"^The checkpoint {model_dir}/ckpt-4 is damaged: "
                       f"{data_file(model_dir, 4)} is truncated: .* Warm start "
                       r"\(train_config.fine_tune_checkpoint\) cannot read it"):
        warm_start.warm_start(config, checkpoint)
    np.testing.assert_array_equal(model.backbone.variables[0].numpy(), before)  # nothing assigned
