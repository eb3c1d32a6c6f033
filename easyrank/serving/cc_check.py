"""The C++ half of check_export: tensorflow::LoadSavedModel, as tensorflow_model_server calls it.

easyrank/load_saved_model.cc is compiled once per TensorFlow version (about
20 s) against the headers and libraries inside the installed tensorflow wheel
(include/, libtensorflow_cc.so.2, libtensorflow_framework.so.2) and cached in
$XDG_CACHE_HOME/easyrank (or ~/.cache/easyrank).

The wheel's libtensorflow_cc.so.2 alone registers no session factory
("No session factory registered"), so the program runs with the wheel's
_pywrap_tensorflow_internal.so (and the libpython it needs) preloaded; the
graph is still loaded and run by TensorFlow's C++ loader and DirectSession.
"""

import os
import shutil
import subprocess
import sysconfig

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "load_saved_model.cc")


def _tensorflow_dir():
    import tensorflow as tf
    return os.path.dirname(os.path.abspath(tf.__file__)), tf.__version__


def build():
    """Path of the compiled checker, or (None, reason) when it cannot be built here."""
    tf_dir, version = _tensorflow_dir()
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        return None, "no C++ compiler (g++) on PATH"
    if not os.path.exists(os.path.join(tf_dir, "include", "tensorflow", "cc", "saved_model", "loader.h")):
        return None, "the tensorflow wheel ships no C++ headers"
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "easyrank")
    binary = os.path.join(cache, f"load_saved_model-tf{version}")
    if os.path.exists(binary) and os.path.getmtime(binary) >= os.path.getmtime(SOURCE):
        return binary, None
    os.makedirs(cache, exist_ok=True)
    command = [compiler, "-std=c++17", "-O1", "-w", f"-I{os.path.join(tf_dir, 'include')}", SOURCE,
               "-o", binary + ".tmp", f"-L{tf_dir}", "-l:libtensorflow_cc.so.2",
               "-l:libtensorflow_framework.so.2", f"-Wl,-rpath,{tf_dir}"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, "compiling load_saved_model.cc failed: " + proc.stderr.strip()[-500:]
    os.replace(binary + ".tmp", binary)
    return binary, None


def run(version_dir):
    """(problems, lines): runs the C++ loader on version_dir; a build failure is a skip, not a problem."""
    binary, reason = build()
    if binary is None:
        return [], [f"  C++ LoadSavedModel check skipped: {reason}"]
    tf_dir, _ = _tensorflow_dir()
    libpython = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("INSTSONAME") or "")
    preload = [p for p in (libpython, os.path.join(tf_dir, "python", "_pywrap_tensorflow_internal.so"))
               if os.path.isfile(p)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", LD_PRELOAD=":".join(preload))
    proc = subprocess.run([binary, version_dir], capture_output=True, text=True, env=env)
    ok = [line for line in proc.stdout.splitlines() if line.startswith("OK ")]
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "failed" in line or "signature" in line]
        return [f"C++ LoadSavedModel: {(errors or [proc.stderr.strip()[-300:]])[-1]}"], []
    return [], [f"  C++ tensorflow::LoadSavedModel + Session::Run: {len(ok)} signatures OK"]
