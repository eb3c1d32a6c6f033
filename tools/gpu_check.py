"""The GPU readiness check behind tools/gpu_check.sh (issue 27); prints one Markdown table.

    tools/gpu_check.sh [--work_dir DIR] [--peer_python PY] [--budget_seconds 450]

With NVIDIA GPUs (TensorFlow sees them) it runs, within --budget_seconds:
  1. the strategies on every visible GPU (tools/strategy_agreement.py: census_mlp on
     one device, MIRRORED, MULTI_WORKER_MIRRORED with 2 workers, PARAMETER_SERVER with
     2 workers and 2 ps; the AUCs must agree within 0.005), and movielens_din_dynamic's
     dynamic tables under DEFAULT, MIRRORED and MULTI_WORKER_MIRRORED;
  2. float32, mixed_float16, XLA jit_compile and both, on census_dcn_mix and criteo_mlp
     (generated Criteo-shaped data): steady training examples/s and AUC;
  3. the DeepCTR comparison (tools/benchmark.py --peer_python) when a DeepCTR
     virtualenv is given (--peer_python or $PEER_PYTHON; else the row says so);
  4. the serving latency of census_dcn_mix's export (tools/serving_benchmark.py).
Without a GPU it says so and runs a CPU smoke of the same table (tiny data, a few
steps, the one-machine strategies without export, each precision/XLA variant once)
in about 100-120 CPU-seconds; each stage logs its wall and CPU seconds on stderr. Exit
code 0 when every check ran and passed, 1 otherwise.
"""

import argparse
import importlib.metadata
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CENSUS = os.path.join(ROOT, "samples/configs/census_dcn_mix.config")
CRITEO = os.path.join(ROOT, "samples/configs/criteo_mlp.config")
VARIANTS = [("float32", "", False), ("mixed_float16", "mixed_float16", False),
            ("XLA jit", "", True), ("mixed_float16 + XLA", "mixed_float16", True)]
AUC_AGREEMENT = 0.005


def run_variants(args):
    """In this process: the precision/XLA variants of each job of --variants (a JSON list of
    {"config", "edit", "variants": names (default all), "export_dir"}); JSON lines on stdout."""
    import easyrank  # noqa: F401, PLC0415 (before tensorflow)

    # isort: split
    import tensorflow as tf  # noqa: F401, PLC0415
    import tf_keras  # noqa: PLC0415

    from easyrank.config import load_config  # noqa: PLC0415
    from easyrank.data import build_dataset  # noqa: PLC0415
    from easyrank.evaluation import evaluator, metrics  # noqa: PLC0415
    from easyrank.models.heads import prediction_key  # noqa: PLC0415
    from easyrank.serving import saved_model  # noqa: PLC0415
    from easyrank.training import model_state, strategies  # noqa: PLC0415
    sys.path.insert(0, HERE)
    from benchmark_easyrank import StepTimer  # noqa: PLC0415

    for job, (name, precision, jit) in ((j, v) for j in json.loads(args.variants) for v in VARIANTS):
        if name not in job.get("variants", [v[0] for v in VARIANTS]):
            continue
        cpu = time.process_time()
        edit = dict(job.get("edit", {}),
                    **{"train_config.mixed_precision": precision, "train_config.jit_compile": jit})
        config = load_config(job["config"], json.dumps(edit))
        train = config.train_config
        tf_keras.utils.set_random_seed(train.seed)
        model, _ = model_state.create_model(config, strategies.build_strategy(train))
        dataset = build_dataset(config.data_config, list(config.train_input_path), training=True,
                                num_epochs=-1, seed=train.seed)
        timer = StepTimer(args.warmup_steps, config.data_config.batch_size)
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=args.num_steps, verbose=0, callbacks=[timer])
        seconds = time.perf_counter() - start
        task = config.model_config.tasks[0]
        test = build_dataset(config.data_config, list(config.eval_input_path), training=False)
        collected = evaluator.collect_predictions(model, test, [task])
        result = {"config": job["config"], "variant": name, "examples_per_s": timer.rate(),
                  "fit_seconds": seconds,
                  "auc": float(metrics.auc(collected[task.label], collected[prediction_key(task)]))}
        if job.get("export_dir") and not precision and not jit:
            result["export"] = saved_model.export_model(model, config, job["export_dir"])
        result["cpu_seconds"] = time.process_time() - cpu
        print("VARIANT " + json.dumps(result), flush=True)


class Check:
    """Runs the stages as subprocesses within one time budget; collects the table's rows."""

    def __init__(self, budget, env):
        self.deadline = time.monotonic() + budget
        self.env = env
        self.rows = []  # (check, setting, result, ok: True/False/None)

    def left(self):
        return self.deadline - time.monotonic()

    def run(self, command, share=None, timeout=None):
        """(exit code, stdout) of `command` within `share` of the time left or `timeout`
        seconds (exit code None: timed out; its process group is killed)."""
        timeout = max(timeout or self.left() * share, 1)
        start, cpu = time.monotonic(), children_cpu()
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout:.0f} s"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            print(f"[gpu_check] {os.path.basename(command[1])}: {time.monotonic() - start:.0f} s, "
                  f"{children_cpu() - cpu:.1f} CPU-s", file=sys.stderr, flush=True)
        if process.returncode != 0:
            sys.stderr.write(out[-3000:] + err[-3000:])
        return process.returncode, out

    def add(self, check, setting, result, ok):
        self.rows.append((check, setting, result, ok))
        mark = {True: "ok", False: "FAILED", None: "-"}[ok]
        print(f"[gpu_check] {check} | {setting} | {result} | {mark}", file=sys.stderr, flush=True)

    def table(self):
        lines = ["| check | setting | result | status |", "|---|---|---|---|"]
        for check, setting, result, ok in self.rows:
            lines.append(f"| {check} | {setting} | {result} | "
                         f"{ {True: 'ok', False: 'FAILED', None: '-'}[ok]} |")
        return "\n".join(lines)


def children_cpu():
    """CPU seconds (user + system) of the finished child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def devices():
    """(GPU descriptions, TensorFlow version); [] without a GPU. Without an NVIDIA driver
    (no nvidia-smi, no /proc/driver/nvidia) TensorFlow, whose import costs seconds of CPU,
    is not asked: it could find no GPU."""
    if not shutil.which("nvidia-smi") and not os.path.exists("/proc/driver/nvidia"):
        try:
            return [], importlib.metadata.version("tensorflow")
        except importlib.metadata.PackageNotFoundError:
            return [], "(not found by pip)"
    import easyrank  # noqa: F401, PLC0415

    # isort: split
    import tensorflow as tf  # noqa: PLC0415
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(f"{gpu.name.split('physical_device:')[-1]} {details.get('device_name', 'GPU')}"
                    + (f" (compute {details['compute_capability']})"
                       if details.get("compute_capability") else ""))
    return gpus, tf.__version__


def strategies_stage(check, args, gpu):
    """census_mlp under every strategy (AUCs within 0.005 of one device), then the dynamic
    tables of movielens_din_dynamic under DEFAULT, MIRRORED and MULTI_WORKER_MIRRORED."""
    census = os.path.join(ROOT, "samples/configs/census_mlp.config")
    dynamic = os.path.join(ROOT, "samples/configs/movielens_din_dynamic.config")
    if gpu:
        agreement(check, args, [(census, None)], ["--num_steps", "300"], 0.4, floor=0.9)
        agreement(check, args, [(dynamic, None)], ["--num_steps", "60", "--strategies",
                                                   "DEFAULT,MIRRORED,MULTI_WORKER_MIRRORED"],
                  0.25, tolerance=0.02)  # 60 steps: near, not converged
        return
    # The smoke: the one-machine strategies on tiny data, both configs in one process
    # (clusters: tests/strategy_quality_test.py and tests/features/dynamic_multi_worker_test.py).
    edits = [json.dumps({"train_input_path": [tiny], "eval_input_path": [tiny],
                         "data_config.batch_size": 32, "export_config.exporter": "NONE"})
             for tiny in (os.path.join(ROOT, "tests/data", data)
                          for data in ("census_tiny.csv", "movielens_tiny.csv"))]
    agreement(check, args, [(census, edits[0]), (dynamic, edits[1])],
              ["--num_steps", "4", "--strategies", "DEFAULT,MIRRORED"], 0.5, tolerance=1.0)
    check.add("strategy MULTI_WORKER_MIRRORED, PARAMETER_SERVER", "clusters",
              "not run in the CPU smoke (tests/strategy_quality_test.py runs them)", None)


def agreement(check, args, configs, extra, share, floor=0.0, tolerance=AUC_AGREEMENT):
    """One tools/strategy_agreement.py run of `configs` ([(config, edit JSON or None)]), a row
    per config and strategy: its AUC within `tolerance` of one device's and above `floor`."""
    labels = [label(config) for config, _ in configs]
    # Each run gets its share (the local runs share one process): the launcher's own timeout
    # stops a cluster's tasks, which live in their own process groups.
    seconds = check.left() * share
    runs = len(configs) * (4 if "--strategies" not in extra
                           else 2 + sum("MULTI_WORKER" in e for e in extra))
    work_dir = "strategies_" + labels[0] if len(configs) == 1 else "strategies"
    command = [sys.executable, os.path.join(HERE, "strategy_agreement.py"), "--work_dir",
               os.path.join(args.work_dir, work_dir),
               "--timeout_seconds", str(int(seconds / runs))] + extra
    for config, edit in configs:
        command += ["--config", config] + (["--edit_config_json", edit] if edit else [])
    code, out = check.run(command, timeout=seconds + 30)
    if code != 0:
        check.add("strategies", ", ".join(labels), f"exit code {code}: {out[-200:]!r}", False)
        return
    results = [json.loads(line) for line in out.splitlines() if line.startswith('{"config"')]
    if len(results) < len(configs):
        check.add("strategies", ", ".join(labels), f"{len(results)} of {len(configs)} configs "
                  "reported", False)
    for result in results:
        base = result["auc"]["DEFAULT"]
        for name, auc in result["auc"].items():
            ok = abs(auc - base) < tolerance and auc > floor and 0 < auc <= 1
            check.add("strategy " + name, f"{label(result['config'])}, {result['steps'][name]} "
                      f"steps, {result['replicas'][name]} replica(s)",
                      f"AUC {auc:.4f} ({auc - base:+.4f}), {result['seconds'][name]:.0f} s", ok)


def criteo_data(check, work_dir, rows):
    prefix = os.path.join(work_dir, "criteo")
    for part, count, seed in (("train", rows, 1), ("eval", max(rows // 10, 200), 2)):
        code, _ = check.run([sys.executable, os.path.join(HERE, "generate_criteo.py"), "--rows",
                             str(count), "--max_vocab", "100000", "--seed", str(seed),
                             "--output", f"{prefix}_{part}"], 0.1)
        if code != 0:
            return None
    return {"train_input_path": [f"{prefix}_train.csv"], "eval_input_path": [f"{prefix}_eval.csv"]}


def variants_stage(check, args, gpu):
    """mixed_float16 and XLA on census_dcn_mix and criteo_mlp; returns census's export.

    On a GPU every variant of each config, a process per config. The smoke runs each
    variant once (the model, not the variant, differs between the configs) in one process
    on tiny data: census_dcn_mix float32 (the export), mixed_float16 and XLA jit,
    criteo_mlp mixed_float16 + XLA."""
    criteo = criteo_data(check, args.work_dir, 200_000 if gpu else 400)
    jobs = [{"config": CENSUS, "edit": {}, "export_dir": os.path.join(args.work_dir, "export")}]
    if criteo is None:
        check.add("criteo_mlp", "generate_criteo.py", "data generation failed", False)
    else:
        jobs.append({"config": CRITEO, "edit": criteo})
    if not gpu:
        tiny = os.path.join(ROOT, "tests/data/census_tiny.csv")
        jobs[0]["edit"] = {"train_input_path": [tiny], "eval_input_path": [tiny]}
        jobs[0]["variants"] = ["float32", "mixed_float16", "XLA jit"]
        jobs[1:] = [dict(job, variants=["mixed_float16 + XLA"]) for job in jobs[1:]]
        for job in jobs:
            job["edit"]["data_config.batch_size"] = 32
    steps, warmup = (400, 100) if gpu else (6, 2)
    export = None
    groups, shares = ([[job] for job in jobs], (0.45, 0.8)) if gpu else ([jobs], (0.8,))
    for group, share in zip(groups, shares):
        command = [sys.executable, os.path.abspath(__file__), "--variants", json.dumps(group),
                   "--num_steps", str(steps), "--warmup_steps", str(warmup)]
        code, out = check.run(command, share)
        results = [json.loads(line[8:]) for line in out.splitlines() if line.startswith("VARIANT ")]
        for r in results:
            ok = r["auc"] > 0.5 if gpu else 0 < r["auc"] <= 1
            batch = next(j for j in group if j["config"] == r["config"])["edit"].get(
                "data_config.batch_size", "config")
            check.add(f"{label(r['config'])} {r['variant']}", f"{steps} steps, batch {batch}",
                      f"{r['examples_per_s']:,.0f} ex/s (steady), AUC {r['auc']:.4f}", ok)
            print(f"[gpu_check] ({r['cpu_seconds']:.1f} CPU-s)", file=sys.stderr, flush=True)
            export = r.get("export") or export
        wanted = sum(len(job.get("variants", VARIANTS)) for job in group)
        if code != 0 or len(results) < wanted:
            check.add(", ".join(label(job["config"]) for job in group), "precision and XLA variants",
                      f"exit code {code}, {len(results)} of {wanted} variants ran", False)
    return export


def label(config):
    return os.path.basename(config).split(".")[0]


def deepctr_stage(check, args, gpu):
    peer = args.peer_python or os.environ.get("PEER_PYTHON", "") or next(
        (p for p in ("/work/peer-venv/bin/python", os.path.join(ROOT, ".peer-venv/bin/python"))
         if os.path.exists(p)), "")
    if not peer or not os.path.exists(peer):
        check.add("DeepCTR comparison", "census_dcn_mix", "not available: no DeepCTR virtualenv "
                  "(pass --peer_python or set PEER_PYTHON; recipe in tools/benchmark.py)", None)
        return
    if not gpu:
        check.add("DeepCTR comparison", "census_dcn_mix", f"skipped in the CPU smoke ({peer})", None)
        return
    code, out = check.run([sys.executable, os.path.join(HERE, "benchmark.py"), "--config", CENSUS,
                           "--peer_python", peer, "--repeats", "1", "--skip_export",
                           "--work_dir", os.path.join(args.work_dir, "deepctr")], 0.7)
    if code != 0:
        check.add("DeepCTR comparison", "census_dcn_mix", f"exit code {code}", False)
        return
    for line in out.splitlines():
        if line.startswith("| train ex/s (steady)") or line.startswith("| test AUC"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            check.add(f"DeepCTR comparison: {cells[0]}", "census_dcn_mix, easyrank vs DeepCTR",
                      f"{cells[1]} vs {cells[2]} ({cells[3]})", True)


def serving_stage(check, export, gpu):
    if not export:
        check.add("serving latency", "census_dcn_mix export", "no export to measure", False)
        return
    code, out = check.run([sys.executable, os.path.join(HERE, "serving_benchmark.py"), export,
                           "--batch_sizes", "1,256", "--seconds", "2" if gpu else "0.1"], 0.9)
    rows = [line for line in out.splitlines() if line.startswith("| serving_default")
            or line.startswith("| raw_features")] if code == 0 else []
    for line in rows:
        name, batch, p50, p99, rate = [c.strip() for c in line.strip("|").split("|")]
        check.add("serving latency", f"{name}, batch {batch}",
                  f"p50 {p50} ms, p99 {p99} ms, {rate} rows/s", True)
    if not rows:
        check.add("serving latency", "census_dcn_mix export", f"exit code {code}", False)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default="")
    parser.add_argument("--peer_python", default="", help="Python of a DeepCTR virtualenv.")
    parser.add_argument("--budget_seconds", type=float, default=0,
                        help="Default: 450 with a GPU, 840 for the CPU smoke (a loaded machine).")
    # The in-process variant runs (internal).
    parser.add_argument("--variants", default="", help=argparse.SUPPRESS)
    parser.add_argument("--num_steps", type=int, default=400, help=argparse.SUPPRESS)
    parser.add_argument("--warmup_steps", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, ROOT)
    if args.variants:
        return run_variants(args)

    own_dir = not args.work_dir
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="easyrank_gpu_check_")
    env = dict(os.environ, TF_FORCE_GPU_ALLOW_GROWTH="true", PYTHONUNBUFFERED="1",
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    start = time.monotonic()
    gpus, version = devices()
    gpu = bool(gpus)
    check = Check(args.budget_seconds or (450 if gpu else 840), env)
    if gpu:
        check.add("device", f"TensorFlow {version}", f"{len(gpus)} GPU(s): {'; '.join(gpus)}", True)
    else:
        print("No GPU found (no NVIDIA driver, or TensorFlow sees no GPU): running the CPU smoke "
              "of the table.", flush=True)
        check.add("device", f"TensorFlow {version}", "no GPU found: CPU smoke (tiny data, few steps)",
                  None)
    try:
        strategies_stage(check, args, gpu)
        export = variants_stage(check, args, gpu)
        deepctr_stage(check, args, gpu)
        serving_stage(check, export, gpu)
    finally:
        if own_dir:
            shutil.rmtree(args.work_dir, ignore_errors=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(check.table())
    print(f"\n{'GPU' if gpu else 'CPU smoke'}; {time.monotonic() - start:.0f} s; "
          f"{os.cpu_count()} CPUs, load average {load}")
    return 0 if all(ok is not False for *_, ok in check.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
