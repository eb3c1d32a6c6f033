"""The C++ half of check_export: tensorflow::LoadSavedModel, as tensorflow_model_server calls it.

easyrank/serving/load_saved_model.cc is compiled once per TensorFlow version
(about 20 s) against the headers and libraries inside the installed tensorflow
wheel (include/, libtensorflow_cc.so.2, libtensorflow_framework.so.2) and cached
in $XDG_CACHE_HOME/easyrank (or ~/.cache/easyrank).

The program links TensorFlow's C++ libraries only and runs without Python or
the wheel's Python extension: what it loads is what a C++ model server has.
libtensorflow_cc.so.2 is linked with --no-as-needed: the loader's symbols are
also in libtensorflow_framework.so.2, so the linker would otherwise drop
libtensorflow_cc.so.2, and with it the kernels and DirectSession's session
factory ("No session factory registered ... Registered factories are {}").

A check that cannot run (no compiler, a wheel without headers, a failed
build) is a problem, not a pass: check_export fails unless --skip_cc_loader.
"""

import hashlib
import os
import shutil
import subprocess

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "load_saved_model.cc")
SKIP_FLAG = "--skip_cc_loader"
TIMEOUT_S = 600


def _tensorflow_dir():
    import tensorflow as tf
    return os.path.dirname(os.path.abspath(tf.__file__)), tf.__version__


def compile_command(compiler, tf_dir, source, output):
    return [compiler, "-std=c++17", "-O1", "-w", f"-I{os.path.join(tf_dir, 'include')}", source,
            "-o", output, f"-L{tf_dir}", "-Wl,--no-as-needed", "-l:libtensorflow_cc.so.2",
            "-l:libtensorflow_framework.so.2", "-Wl,--as-needed", f"-Wl,-rpath,{tf_dir}"]


def build(source=SOURCE):
    """(path of the compiled checker, None), or (None, why it cannot be built here)."""
    tf_dir, version = _tensorflow_dir()
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        return None, "no C++ compiler (g++) on PATH"
    if not os.path.exists(os.path.join(tf_dir, "include", "tensorflow", "cc", "saved_model", "loader.h")):
        return None, "the tensorflow wheel ships no C++ headers"
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "easyrank")
    with open(source, "rb") as f:  # the source and the link line name the cached binary
        key = hashlib.sha256(f.read() + repr(compile_command("", tf_dir, "", "")).encode()).hexdigest()[:12]
    binary = os.path.join(cache, f"load_saved_model-tf{version}-{key}")
    if os.path.exists(binary):
        return binary, None
    os.makedirs(cache, exist_ok=True)
    tmp = f"{binary}.tmp-{os.getpid()}"
    try:
        proc = subprocess.run(compile_command(compiler, tf_dir, source, tmp), capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, f"compiling {os.path.basename(source)} took over {TIMEOUT_S} s"
    if proc.returncode != 0:
        return None, f"compiling {os.path.basename(source)} failed: " + proc.stderr.strip()[-500:]
    os.replace(tmp, binary)
    return binary, None


def run(version_dir, skip=False, source=SOURCE):
    """(problems, lines): runs the C++ loader on version_dir.

    A loader that cannot be built is a problem naming why, unless `skip`
    (--skip_cc_loader), when the report line says the check did not run.
    """
    return finish(start(version_dir, skip, source))


def start(version_dir, skip=False, source=SOURCE):
    """Starts run()'s loader and returns at once; finish() waits for it and gives run()'s answer.

    check_export starts it first and collects it last: the loader runs beside the
    in-process checks (wall time; the CPU it takes is the same).
    """
    if skip:
        return [], [f"  SKIPPED: the C++ LoadSavedModel check ({SKIP_FLAG}); the export was not "
                    "loaded as tensorflow_model_server loads it"]
    binary, reason = build(source)
    if binary is None:
        return [f"the C++ LoadSavedModel check could not run: {reason}. Install g++ (the "
                f"tensorflow wheel has the headers), or pass {SKIP_FLAG} to accept the export "
                "without it"], []
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.Popen([binary, version_dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def finish(started):
    """(problems, lines) of a start(): waits for the loader (at most TIMEOUT_S)."""
    if isinstance(started, tuple):  # skipped or not built: the answer is already known
        return started
    try:
        stdout, stderr = started.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop(started)
        return [f"C++ LoadSavedModel: no answer within {TIMEOUT_S} s"], []
    return answer(started.returncode, stdout.splitlines(), stderr)


def answer(returncode, lines, errors):
    """(problems, lines) of the loader's exit code, stdout lines and error text."""
    ok = [line for line in lines if line.startswith("OK ")]
    if returncode != 0:
        found = [line for line in errors.splitlines() if line.startswith(("LoadSavedModel failed", "signature "))]
        return [f"C++ LoadSavedModel: {(found or [errors.strip()[-300:]])[-1]}"], []
    if not ok:
        return ["C++ LoadSavedModel: the export has no signature to run"], []
    return [], [f"  C++ tensorflow::LoadSavedModel + Session::Run: {len(ok)} signatures OK"]


def stop(started):
    """Ends a started process (a start()ed loader) and closes its pipes, unless finished."""
    if isinstance(started, subprocess.Popen) and not started.stderr.closed:
        started.kill()
        started.communicate()
