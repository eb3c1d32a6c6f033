"""docs/config_reference.md is generated from the proto comments; it must match them."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_config_reference_is_up_to_date():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "config_reference.py"), "--check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
