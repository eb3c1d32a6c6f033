"""Unit tests of the reliability pieces: model_dir lock, export pruning, gzip checks, error paragraphs."""

import errno
import gzip
import json
import os
import socket
import subprocess
import sys
import time

import easyrank  # noqa: F401

# isort: split
import pytest
import tensorflow as tf

from easyrank.console import app
from easyrank.data.compression import verify_gzip
from easyrank.errors import ConfigError, DataError
from easyrank.serving import saved_model
from easyrank.training.model_dir_lock import LOCK_FILE, ModelDirLock


def write_lock(model_dir, **owner):
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
             "heartbeat": time.time(), "command": "other run", "token": "other", **owner}
    (model_dir / LOCK_FILE).write_text(json.dumps(owner))


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lock_is_exclusive_and_released_also_on_errors(tmp_path):
    with ModelDirLock(str(tmp_path)):
        owner = json.loads((tmp_path / LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == socket.gethostname()
        with pytest.raises(ConfigError, match=f"is in use by another run: pid {os.getpid()}") as info:
            ModelDirLock(str(tmp_path)).acquire()
        assert info.value.path == "model_dir"
    assert not (tmp_path / LOCK_FILE).exists()
    with pytest.raises(RuntimeError):
        with ModelDirLock(str(tmp_path)):
            raise RuntimeError("boom")
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize("owner, taken", [
    ({"pid": None}, True),  # replaced below by a pid that no longer runs on this host
    ({}, False),  # this very process: alive
    ({"pid": os.getpid(), "process_start": 1}, True),  # the pid now belongs to a later process
    ({"host": "elsewhere", "heartbeat": time.time() - 3600}, True),  # another host, no heartbeat for an hour
    ({"host": "elsewhere"}, False),  # another host, fresh heartbeat
])
def test_stale_locks_are_taken_over_live_ones_refused(tmp_path, owner, taken):
    if owner.get("pid", 0) is None:
        owner = {"pid": dead_pid()}
    write_lock(tmp_path, **owner)
    lock = ModelDirLock(str(tmp_path))
    if taken:
        lock.acquire()
        assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == lock._owner["token"]
        lock.release()
    else:
        with pytest.raises(ConfigError, match="Two runs in one model_dir"):
            lock.acquire()
        assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == "other"


def test_heartbeat_refreshes_the_lock(tmp_path):
    with ModelDirLock(str(tmp_path), heartbeat_seconds=0.05):
        first = json.loads((tmp_path / LOCK_FILE).read_text())["heartbeat"]
        deadline = time.time() + 10
        while json.loads((tmp_path / LOCK_FILE).read_text())["heartbeat"] == first and time.time() < deadline:
            time.sleep(0.05)
        assert json.loads((tmp_path / LOCK_FILE).read_text())["heartbeat"] > first


def test_pruning_hides_a_version_before_deleting_and_removes_stale_temporaries(tmp_path):
    for version in ("100", "200"):
        (tmp_path / version / "variables").mkdir(parents=True)
        (tmp_path / version / "saved_model.pb").write_text("x")
    renamed = []
    real_rename = tf.io.gfile.rename  # the file layer's rename (easyrank/io/files.py)

    def spy(src, dst, overwrite=False):
        renamed.append((os.path.basename(src), os.path.basename(dst)))
        assert not os.path.basename(dst).isdigit()  # never a numeric name TF Serving would load
        return real_rename(src, dst, overwrite)

    tf.io.gfile.rename = spy
    try:
        saved_model.delete_version(str(tmp_path), "100")
    finally:
        tf.io.gfile.rename = real_rename
    assert renamed == [("100", f".deleting-100-{os.getpid()}")]
    assert sorted(os.listdir(tmp_path)) == ["200"]
    # Left by killed exports: a temporary of a dead process and a half-deleted version.
    (tmp_path / f".tmp-300-{dead_pid()}").mkdir()
    (tmp_path / ".deleting-50-1").mkdir()
    (tmp_path / f".tmp-400-{os.getpid()}").mkdir()  # a live export's: kept
    saved_model.remove_stale_temporaries(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [f".tmp-400-{os.getpid()}", "200"]


def test_incomplete_export_is_a_data_error(tmp_path):
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "saved_model.pb").write_text("x")
    with pytest.raises(DataError, match="is not a complete easyrank export: it lacks variables/variables.index, "
                                        "assets.extra/pipeline.config"):
        saved_model.resolve_version_dir(str(tmp_path))


def test_gzip_members_padding_and_damage(tmp_path):
    blob = gzip.compress(b"a,b\n1,2\n" * 1000)
    cases = {"two_members": (blob + blob, None), "padded": (blob + b"\0" * 64, None),
             "cut": (blob[:-5], "is truncated"), "crc": (blob[:-8] + bytes([blob[-8] ^ 1]) + blob[-7:], "corrupt"),
             "not_gzip": (b"a,b\n1,2\n", "is not a valid gzip file")}
    for name, (data, error) in cases.items():
        path = tmp_path / f"{name}.csv.gz"
        path.write_bytes(data)
        if error is None:
            verify_gzip(str(path))
        else:
            with pytest.raises(DataError, match=error):
                verify_gzip(str(path))


def test_disk_full_gets_one_paragraph():
    error = OSError(errno.ENOSPC, "No space left on device", "/models/ctr/ckpt-100.index")
    message = app.disk_full_message(error)
    assert message.startswith("no space left on the device while writing /models/ctr/ckpt-100.index.")
    assert "resumes from the last checkpoint" in message
    assert app.disk_full_message(OSError(errno.EACCES, "Permission denied")) is None


def test_tensorflow_data_errors_keep_file_record_and_key():
    import tensorflow as tf
    text = ("Graph execution error:\n\nDetected at node ParseExample defined at (most recent call last):\n"
            "  File \"x.py\", line 1, in <module>\n\n"
            "Name: /d/train.tfrecord record 7, Key: age, Index: 0.  Data types don't match. "
            "Data type: string but expected type: float\n\t [[{{node ParseExample/ParseExampleV2}}]] "
            "[Op:__inference_train_function_123]")
    error = tf.errors.InvalidArgumentError(None, None, text)
    assert app.data_error_message(error) == (
        "Name: /d/train.tfrecord record 7, Key: age, Index: 0. Data types don't match. "
        "Data type: string but expected type: float")
