"""Runs a local tf.distribute cluster: one process per task on 127.0.0.1.

    python -m easyrank.launch --num_workers 2 -- \\
        --pipeline_config_path CFG --model_dir DIR                 # MultiWorkerMirrored
    python -m easyrank.launch --num_workers 2 --num_ps 1 -- \\
        --pipeline_config_path CFG --model_dir DIR                 # ParameterServer

Without parameter servers the cluster is {"worker": [N addresses]} (worker 0
is the chief); with --num_ps it is {"chief": [1], "worker": [N], "ps": [M]}.
--evaluator adds {"evaluator": [1]}: a task that evaluates each new
checkpoint (training/evaluator_task.py); the launcher waits for it after the
chief, and its failure is reported (its exit code, once the chief is done)
but does not stop the workers.
Each task runs `python -m easyrank.train <train args>` (or --module) with its
TF_CONFIG; its output is forwarded line by line, prefixed with "[worker:1] ".

The launcher exits with the chief's exit code once the chief is done
(workers of a synchronous run get --grace_seconds to finish; parameter-server
tasks, which serve forever, are stopped at once). The first task that fails
stops them all and its exit code is returned; so does --timeout_seconds
(exit code 124) and Ctrl-C. Every process is killed with its process group.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

EXIT_TIMEOUT = 124


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def cluster_spec(num_workers, num_ps, evaluator=False):
    """{"chief"?: [...], "worker": [...], "ps"?: [...], "evaluator"?: [...]} with free local ports."""
    roles = ([("chief", 1)] if num_ps else []) + [("worker", num_workers)] + (
        [("ps", num_ps)] if num_ps else []) + ([("evaluator", 1)] if evaluator else [])
    ports = iter(free_ports(sum(n for _, n in roles)))
    return {role: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for role, n in roles}


def chief_task(cluster):
    return ("chief", 0) if "chief" in cluster else ("worker", 0)


class Task:
    """One process of the cluster, with a thread that forwards its output."""

    def __init__(self, role, index, command, env, out):
        self.role, self.index = role, index
        self.name = f"{role}:{index}"
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group, killed as a whole
        self._thread = threading.Thread(target=self._forward, args=(out,), daemon=True)
        self._thread.start()

    def _forward(self, out):
        prefix = f"[{self.name}] "
        for raw in iter(self.process.stdout.readline, b""):
            out.write(prefix + raw.decode("utf-8", "replace").rstrip("\n") + "\n")
            out.flush()

    def poll(self):
        return self.process.poll()

    def kill(self, sig=signal.SIGKILL):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout):
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self._thread.join(timeout=5)


def stop_all(tasks, grace=5.0):
    """SIGTERM every live task, then SIGKILL after `grace` seconds."""
    for task in tasks:
        task.kill(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for task in tasks:
        task.wait(max(deadline - time.monotonic(), 0.1))
        task.kill(signal.SIGKILL)
        task.wait(5)


def launch(num_workers, num_ps, train_args, module="easyrank.train", timeout=0.0,
           grace=120.0, out=sys.stdout, python=sys.executable, evaluator=False):
    """Starts the cluster, waits, stops it; returns the run's exit code."""
    cluster = cluster_spec(num_workers, num_ps, evaluator)
    log = lambda text: (out.write(f"[launch] {text}\n"), out.flush())  # noqa: E731
    log(f"cluster {json.dumps(cluster)}")
    tasks = []
    chief = chief_task(cluster)
    start = time.monotonic()
    try:
        for role, addresses in cluster.items():
            for index in range(len(addresses)):
                env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CONFIG=json.dumps(
                    {"cluster": cluster, "task": {"type": role, "index": index}}))
                tasks.append(Task(role, index, [python, "-m", module] + list(train_args), env, out))
        by_name = {t.name: t for t in tasks}
        chief_name = f"{chief[0]}:{chief[1]}"
        chief_done_at = None
        sidecar = by_name.get("evaluator:0")
        evaluator_code, stopped = None, []
        while True:
            for task in tasks:
                if task in stopped:
                    continue
                code = task.poll()
                if task is sidecar:
                    if code not in (None, 0) and evaluator_code is None:
                        evaluator_code = code if code > 0 else 128 - code
                        log(f"evaluator:0 failed with exit code {code}; the workers go on.")
                    continue
                if code not in (None, 0):
                    log(f"{task.name} failed with exit code {code}; stopping the cluster.")
                    return code if code > 0 else 128 - code  # killed by signal -code
            code = by_name[chief_name].poll()
            if code == 0 and chief_done_at is None:
                chief_done_at = time.monotonic()
                if num_ps:  # parameter-server tasks serve until stopped
                    if sidecar is None:
                        log("chief done; stopping the worker and ps servers.")
                        return 0
                    log("chief done; stopping the worker and ps servers, waiting for the evaluator.")
                    stopped = [t for t in tasks if t.role in ("worker", "ps")]
                    stop_all(stopped)
            if chief_done_at is not None:
                if all(t.poll() is not None for t in tasks):
                    log("all tasks done.")
                    return evaluator_code or 0
                if time.monotonic() - chief_done_at > grace:
                    log(f"chief done but tasks still running after {grace:.0f} s; stopping them.")
                    return 1
            if timeout and time.monotonic() - start > timeout:
                log(f"timeout after {timeout:.0f} s; stopping the cluster.")
                return EXIT_TIMEOUT
            time.sleep(0.2)
    finally:
        stop_all(tasks)
