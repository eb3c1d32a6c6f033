"""One serving process and one C++ loader that check several exports in turn.

`checks.check()` alone starts both for each export (what `python -m
easyrank.check_export` does). `checks.check(..., processes=CheckProcesses())`
sends the exports to two long-lived processes instead, as one model server
loads several models: serving_sim.py --serve (a Python process that never
imports easyrank; its check still reports it if it did) and the C++ loader
--serve (LoadSavedModel in a new bundle and session per export). Each export
is loaded anew; the checks and the report are the same. What it saves is the
start of both processes after the first export: TensorFlow's import (about
6 CPU-s) and the C++ libraries' load (about 1.3 CPU-s).

A process that ended (a crash) is started again for the next export; the
export it was checking fails with the end of its stderr.
"""

import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from easyrank.io import files
from easyrank.serving import cc_check as cc

SERVING_SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serving_sim.py")


def read_report(out, npz, log):
    """(report, outputs) the serving process wrote; RuntimeError with `log()` if it wrote none."""
    if not files.exists(out):
        raise RuntimeError(f"the fresh-process check failed:\n{log()[-3000:]}")
    report = json.loads(files.read_text(out))
    outputs = dict(np.load(npz)) if files.exists(npz) else {}
    return report, outputs


class _Server:
    """A process that answers each stdin line with lines ending in "END <id> <code>"."""

    def __init__(self, argv, env):
        self._log = tempfile.TemporaryFile(mode="w+")  # stderr: TensorFlow's logs, tracebacks
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     text=True, env=env)
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def alive(self):
        return self.proc.poll() is None

    def send(self, line):
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the process ended: answer() says so

    def answer(self, request_id, timeout):
        """(exit code, lines) of request_id; code None: the process ended or gave no answer
        within `timeout` s (then it is stopped). Answers to earlier requests are skipped."""
        lines, deadline = [], time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.close(kill=True)
                return None, lines + [f"no answer within {timeout} s"]
            if line is None:
                return None, lines
            if line.startswith("END "):
                _, answered, code = line.split(" ")
                if answered == str(request_id):
                    return int(code), lines
                lines = []  # a check that stopped before collecting its answer
                continue
            lines.append(line)

    def end(self):
        """Stops the process after a failed request; returns its log (read before it closes)."""
        log = self.log()
        self.close(kill=True)
        return log

    def log(self):
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def close(self, kill=False):
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
        self._log.close()


class CheckProcesses:
    """The serving process and the C++ loader of several checks; close() (or `with`) ends them."""

    def __init__(self):
        self._sim = self._cc = None
        self._ids = itertools.count()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for server in (self._sim, self._cc):
            if server is not None:
                server.close()
        self._sim = self._cc = None

    def start_fresh(self, version_dir, requests, work):
        """Sends checks._start_fresh_process()'s check; finish_fresh() collects it."""
        if self._sim is None or not self._sim.alive():
            self._sim = _Server([sys.executable, SERVING_SIM, "--serve"],
                                dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        request_id = next(self._ids)
        out, npz = os.path.join(work, "report.json"), os.path.join(work, "outputs.npz")
        for stale in (out, npz):  # an earlier check's, in the same directory
            if files.exists(stale):
                files.remove(stale)
        self._sim.send(json.dumps({"id": request_id, "version_dir": version_dir, "out": out,
                                   "requests": requests, "outputs": npz}))
        return request_id, out, npz

    def finish_fresh(self, started):
        """(report, outputs), as checks._finish_fresh_process()."""
        request_id, out, npz = started
        server = self._sim
        code, lines = server.answer(request_id, cc.TIMEOUT_S)
        if code is None:
            self._sim = None
            log = server.end()
            raise RuntimeError("the fresh-process check failed:\n" + "\n".join(lines + [log[-3000:]]))
        return read_report(out, npz, server.log)

    def start_cc(self, version_dir):
        """Sends cc_check.start()'s check; finish_cc() collects it. A loader that cannot be built
        is the same problem as in cc_check.start()."""
        binary, reason = cc.build()
        if binary is None:
            return cc.start(version_dir)  # the problem naming why
        if self._cc is None or not self._cc.alive():
            env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
            env["TF_CPP_MIN_LOG_LEVEL"] = "2"
            self._cc = _Server([binary, "--serve"], env)
        request_id = next(self._ids)
        self._cc.send(f"{request_id}\t{version_dir}")
        return request_id

    def finish_cc(self, started):
        """(problems, lines), as cc_check.finish()."""
        if isinstance(started, tuple):
            return started
        server = self._cc
        code, lines = server.answer(started, cc.TIMEOUT_S)
        if code is None:
            self._cc = None
            log = server.end()
            return [f"C++ LoadSavedModel: the loader ended: {' '.join(lines)} {log.strip()[-300:]}"], []
        errors = [line for line in lines if not line.startswith("OK ")]
        return cc.answer(code, lines, "\n".join(errors))
