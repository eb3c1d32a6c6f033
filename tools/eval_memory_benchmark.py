"""Evaluation metrics in memory against bounded memory (issue 26): wall time and peak memory.

Rows come from tools/generate_criteo.py (label and ids); the "model" score is a
noisy function of the ids (float32, so with ties), the group (for GAUC and
precision@k) is the C20 id. Each case runs in its own process and reports its
wall time for the metric pass (generation excluded) and its peak resident
memory (ru_maxrss). The model's forward pass is the same in both paths and is
left out.

    python tools/eval_memory_benchmark.py --cases memory:1000000,bounded:1000000,bounded:10000000
    python tools/eval_memory_benchmark.py --case bounded:10000000   # one case, in this process
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import easyrank  # noqa: F401  (before tensorflow)

# isort: split
import numpy as np
from google.protobuf import text_format

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate_criteo  # noqa: E402

from easyrank.evaluation import evaluator  # noqa: E402
from easyrank.protos import pipeline_pb2  # noqa: E402

TASKS = """
model_config { tasks { name: "ctr" label: "label"
  metrics: [AUC, GAUC, PRECISION_AT_K, RECALL_AT_K, LOGLOSS, CALIBRATION, NORMALIZED_ENTROPY]
  group_field: "C20" top_k: 5 } }
"""


def batches(rows, batch_rows=65536, seed=3):
    """Prediction batches as evaluator.predict_batches yields them."""
    rng = np.random.default_rng(seed)
    for label, _, ids in generate_criteo.chunks(rows, 1_000_000, seed, chunk_rows=batch_rows):
        logit = -1.8 + sum(0.45 * generate_criteo.id_effect(k, ids[:, k], 1_000_000) for k in range(0, 26, 3))
        logit += rng.normal(0, 0.8, len(label))
        score = np.round(1 / (1 + np.exp(-logit)), 4).astype(np.float32)  # ties, as a model's outputs
        yield {"ctr/probs": score, "label": label.astype(np.float32), "C20": ids[:, 19]}


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_case(mode, rows, spill_dir, limit):
    config = text_format.Parse(TASKS, pipeline_pb2.PipelineConfig())
    config.eval_config.max_in_memory_rows = 0 if mode == "memory" else limit
    before = _rss_mib()
    config.eval_config.spill_dir = spill_dir or ""
    generated = []
    start = time.perf_counter()
    generation = 0.0

    def timed():
        nonlocal generation
        source = batches(rows)
        while True:
            t = time.perf_counter()
            try:
                batch = next(source)
            except StopIteration:
                return
            generation += time.perf_counter() - t
            generated.append(len(batch["label"]))
            yield batch

    results = evaluator.evaluate_batches(timed(), config)
    wall = time.perf_counter() - start - generation
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    return {"mode": mode, "rows": rows, "metric_seconds": round(wall, 1),
            "generation_seconds": round(generation, 1), "rss_before_mib": round(before),
            "peak_rss_mib": round(peak), "max_in_memory_rows": config.eval_config.max_in_memory_rows,
            "results": {k: (round(v, 9) if isinstance(v, float) else v) for k, v in results.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", help="mode:rows, run here (mode: memory or bounded)")
    parser.add_argument("--cases", default="memory:1000000,bounded:1000000,bounded:10000000",
                        help="mode:rows,... each in its own process")
    parser.add_argument("--spill_dir", default="", help="Where bounded runs spill (default: TMPDIR).")
    parser.add_argument("--max_in_memory_rows", type=int, default=1 << 18,
                        help="eval_config.max_in_memory_rows of the bounded cases.")
    args = parser.parse_args(argv)
    if args.case:
        mode, rows = args.case.split(":")
        print(json.dumps(run_case(mode, int(rows), args.spill_dir, args.max_in_memory_rows)))
        return 0
    for case in args.cases.split(","):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--case", case,
                              "--spill_dir", args.spill_dir, "--max_in_memory_rows",
                              str(args.max_in_memory_rows)], capture_output=True, text=True, check=True)
        print(out.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
