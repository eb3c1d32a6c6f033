"""tools/gpu_check.sh (issue 27) keeps working on CPU machines: it says no GPU was found and
runs the CPU smoke of its table (strategies, precision/XLA variants, serving latency)."""

import os
import signal
import subprocess

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_gpu_check_passes_on_cpu_with_its_smoke_table(tmp_path):
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible: the script runs its full check, not the smoke")
    process = subprocess.Popen([os.path.join(ROOT, "tools/gpu_check.sh"), "--work_dir",
                                str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=dict(os.environ, TMPDIR=str(tmp_path)),
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=960)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    out = out.decode("utf-8", "replace")
    assert process.returncode == 0, out[-4000:]
    assert "No GPU found" in out
    table = out[out.index("| check | setting | result | status |"):]
    for row in ("| strategy DEFAULT | census_mlp", "| strategy MIRRORED | census_mlp",
                "| strategy MIRRORED | movielens_din_dynamic", "| census_dcn_mix mixed_float16 |",
                "| census_dcn_mix XLA jit |", "| criteo_mlp mixed_float16 + XLA |",
                "| DeepCTR comparison |", "| serving latency | serving_default, batch 1 |"):
        assert row in table, table
    assert "FAILED" not in table, table
