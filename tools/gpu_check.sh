#!/usr/bin/env bash
# GPU readiness check (issue 27): on a machine with NVIDIA GPUs, within 8 minutes, prints a
# table of the strategies on every visible GPU, mixed_float16 and XLA on census_dcn_mix and
# criteo_mlp (training examples/s, AUC), the DeepCTR comparison (with --peer_python or
# $PEER_PYTHON) and the export's serving latency. Without a GPU it says so and runs a quick
# CPU smoke of the same table. Details: tools/gpu_check.py.
#
#   tools/gpu_check.sh [--peer_python /path/to/deepctr-venv/bin/python] [--work_dir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python}"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader || true
  limit=480  # 450 s of checks, and a hard stop at 8 minutes whatever happens
else
  echo "nvidia-smi not found."
  limit=900  # the CPU smoke on a loaded CI machine
fi
exec timeout --kill-after=10 "${GPU_CHECK_TIMEOUT:-$limit}" "$PYTHON" tools/gpu_check.py "$@"
