"""One run at a time in a model_dir: a lock file created atomically, with a heartbeat.

    with ModelDirLock(model_dir):
        ...train...

The lock is <model_dir>/run.lock, created with O_CREAT | O_EXCL (atomic on
local disks and on NFS v3+, where flock is not reliable) and holding the
owner's host, pid, process start time, command and a heartbeat time that a
background thread refreshes every HEARTBEAT_SECONDS. A second run refuses
with one paragraph naming the owner. A lock is stale, and is taken over, when
its owner is gone: on the same host its pid no longer runs (or now belongs to
a process that started later), on another host its heartbeat is older than
STALE_SECONDS. The lock is released when the block exits, also on errors; a
run killed with SIGKILL leaves a stale lock that the next run takes over.
Two runs taking over the same stale lock at the same instant could both
succeed; the heartbeat thread of the loser then finds the lock is not its own
and logs an error.

On an object store (gs://) there is no create-only-if-absent through
tf.io.gfile: the lock is checked, written, and read back after a second
(easyrank/io/files.py create_exclusive). It stops a run started while
another holds the lock (a rerun, an overlapping schedule); two runs started
within that second may both proceed, and the heartbeat of the one whose lock
was overwritten then logs an error.
"""

import json
import os
import socket
import sys
import threading
import time
import uuid

import tensorflow as tf
from absl import logging

from easyrank.errors import ConfigError
from easyrank.io import files

LOCK_FILE = "run.lock"
HEARTBEAT_SECONDS = 30
STALE_SECONDS = 300


_PID_MAX = 1 << 22  # Linux's largest pid_max


def _process_start(pid):
    """The start time of process `pid` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid):
    """Whether process `pid` runs; False for what cannot be a pid of another process (0 and
    negative numbers name process groups, a bool, a number beyond Linux's pid_max)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid <= _PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def _number(owner, key):
    """owner[key] as a float, or None when it is missing or not a finite number."""
    value = owner.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if abs(value) < 1e18 else None


class ModelDirLock:
    """The lock of one model_dir held by this process (a context manager)."""

    def __init__(self, model_dir, heartbeat_seconds=HEARTBEAT_SECONDS, stale_seconds=STALE_SECONDS):
        self.path = os.path.join(model_dir, LOCK_FILE)
        self.heartbeat_seconds, self.stale_seconds = heartbeat_seconds, stale_seconds
        self._owner = {
            "host": socket.gethostname(), "pid": os.getpid(), "process_start": _process_start(os.getpid()),
            "started": time.time(), "command": " ".join(sys.argv)[:500], "token": uuid.uuid4().hex,
        }
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def acquire(self):
        """Takes the lock or raises ConfigError naming the run that holds it."""
        for _ in range(3):
            if self._create():
                self._thread = threading.Thread(target=self._beat, name="model_dir-lock", daemon=True)
                self._thread.start()
                return
            owner = self._read()
            reason = self._stale_reason(owner)
            if reason is None:
                raise ConfigError(self._busy_message(owner), path="model_dir")
            logging.warning("Taking over the lock of %s: %s.", os.path.dirname(self.path), reason)
            # Move the stale lock aside atomically: of several runs taking it over, one wins.
            try:
                files.rename(self.path, f"{self.path}.stale-{self._owner['token']}")
                files.remove(f"{self.path}.stale-{self._owner['token']}")
            except (FileNotFoundError, tf.errors.NotFoundError):
                pass
        raise ConfigError(f"could not take the lock {self.path}: other runs keep taking it.",
                          path="model_dir")

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        owner = self._read()
        if owner and owner.get("token") == self._owner["token"]:
            files.remove(self.path)

    def _create(self):
        return files.create_exclusive(self.path, json.dumps({**self._owner, "heartbeat": time.time()}))

    def _read(self):
        try:
            owner = json.loads(files.read_text(self.path))
        except (FileNotFoundError, tf.errors.NotFoundError):
            return None
        except (OSError, ValueError, tf.errors.OpError):
            return {}  # being written, or garbage: judged by the file's age
        if not isinstance(owner, dict) or _number(owner, "heartbeat") is None \
                or not isinstance(owner.get("host"), str):
            return {}  # not a lock this code wrote: judged by the file's age
        return owner

    def _stale_reason(self, owner):
        if owner is None:
            return "it was just released"
        if not owner:
            try:
                age = time.time() - files.stat(self.path).mtime_nsec / 1e9  # no mtime: old
            except (OSError, tf.errors.OpError):
                return "it was just released"
            return f"it is unreadable and {age:.0f} s old" if age > self.stale_seconds else None
        if owner.get("host") == self._owner["host"]:
            pid = owner.get("pid")
            if not isinstance(pid, int) or not _pid_alive(pid):
                return f"its owner, pid {pid} on this host, is no longer running"
            start = _process_start(pid)
            if isinstance(owner.get("process_start"), int) and start is not None and start != owner["process_start"]:
                return f"its owner, pid {pid} on this host, is no longer running (the pid was reused)"
            return None
        age = time.time() - _number(owner, "heartbeat")
        if age > self.stale_seconds:
            return f"its owner on host {owner.get('host')} has not refreshed it for {age:.0f} s"
        return None

    def _busy_message(self, owner):
        if not owner:
            return (f"{os.path.dirname(self.path)} is locked by another run (the lock file {self.path} "
                    "is being written, or is not a lock easyrank wrote; it counts as stale once "
                    f"{self.stale_seconds:.0f} s old). Wait for that run to finish or use another "
                    f"model_dir; if no run uses it, remove {self.path}.")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(_number(owner, "started") or 0))
        beat = time.time() - _number(owner, "heartbeat")
        return (f"{os.path.dirname(self.path)} is in use by another run: pid {owner.get('pid')} on host "
                f"{owner.get('host')}, started {started}, last heartbeat {beat:.0f} s ago "
                f"({owner.get('command', '')!r}). Two runs in one model_dir overwrite each other's "
                f"checkpoints. Wait for it to finish, stop it, or use another model_dir; if that run "
                f"is gone and its host cannot tell, remove {self.path}.")

    def _beat(self):
        while not self._stop.wait(self.heartbeat_seconds):
            owner = self._read()
            if not owner or owner.get("token") != self._owner["token"]:
                logging.error("The lock %s is no longer held by this run; another run may be writing "
                              "into its model_dir.", self.path)
                return
            try:
                files.write_text(self.path, json.dumps({**self._owner, "heartbeat": time.time()}))
            except (OSError, tf.errors.OpError) as e:
                logging.warning("Cannot refresh the lock %s: %s.", self.path, e)
