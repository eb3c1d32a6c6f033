"""A malformed run.lock is judged, never a traceback; pid 0 and impossible pids are not alive."""

import json
import os
import socket
import time

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank.errors import ConfigError
from easyrank.training.model_dir_lock import LOCK_FILE, ModelDirLock


def write_lock(tmp_path, content, age=0.0):
    path = tmp_path / LOCK_FILE
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


HOST = socket.gethostname()


@pytest.mark.parametrize("owner", [
    {"host": HOST, "pid": 0, "heartbeat": time.time()},  # pid 0 names a process group
    {"host": HOST, "pid": -1, "heartbeat": time.time()},
    {"host": HOST, "pid": 10 ** 30, "heartbeat": time.time()},
    {"host": HOST, "pid": "123", "heartbeat": time.time()},
    {"host": HOST, "pid": True, "heartbeat": time.time()},
])
def test_impossible_pids_on_this_host_are_stale_and_taken_over(tmp_path, owner):
    write_lock(tmp_path, owner)
    with ModelDirLock(str(tmp_path)):
        held = json.loads((tmp_path / LOCK_FILE).read_text())
        assert held["pid"] == os.getpid()


@pytest.mark.parametrize("content", [
    "[1, 2, 3]", "null", "42", "not json",
    {"host": HOST, "pid": os.getpid(), "heartbeat": "yesterday"},
    {"host": ["h"], "pid": 1, "heartbeat": time.time()},
    {"host": "other-host", "pid": 1, "heartbeat": 1e300, "started": "x"},
])
def test_malformed_lock_is_busy_while_young_and_stale_when_old(tmp_path, content):
    write_lock(tmp_path, content)
    with pytest.raises(ConfigError) as error:
        ModelDirLock(str(tmp_path)).acquire()
    assert "is not a lock easyrank wrote" in str(error.value)
    assert f"remove {tmp_path / LOCK_FILE}" in str(error.value)
    write_lock(tmp_path, content, age=3600)
    with ModelDirLock(str(tmp_path)):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_live_owner_with_odd_started_field_is_named(tmp_path):
    write_lock(tmp_path, {"host": HOST, "pid": os.getppid(), "heartbeat": time.time(),
                          "started": "not a time", "command": ["x"]})
    with pytest.raises(ConfigError) as error:
        ModelDirLock(str(tmp_path)).acquire()
    assert f"pid {os.getppid()} on host {HOST}" in str(error.value)
