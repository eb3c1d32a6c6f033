"""tools/config_check.py: every sample builds; a bad config is reported with file:line."""

import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_samples_build_and_bad_config_fails():
    samples = sorted(glob.glob(os.path.join(ROOT, "samples", "configs", "*.config")))
    bad = os.path.join(ROOT, "tests", "configs", "bad", "block_without_params.config")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "config_check.py"), *samples, bad],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 2, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
    assert len(lines) == len(samples) + 1
    assert all(line.startswith("ok") for line in lines[:-1]), out.stdout
    assert lines[-1] == (f"FAIL {bad}:19: model_config.backbone.blocks[0].mlp.hidden_units: "
                         "mlp needs hidden_units, e.g. hidden_units: [256, 128].")
