"""Do the strategies train the same model? One config, seed and data under each strategy.

    python tools/strategy_agreement.py --config samples/configs/census_mlp.config \
        --num_steps 300 --work_dir /tmp/agree [--strategies DEFAULT,MIRRORED,...]

Trains the config for --num_steps steps (same global batch, seed and data) on one
device (DEFAULT), under MIRRORED (every local GPU, or 2 logical CPU devices when
there is no GPU), MULTI_WORKER_MIRRORED (2 workers through easyrank.launch on
127.0.0.1) and PARAMETER_SERVER (2 workers, 2 ps), evaluates each on the
config's eval input (no export: export_config.exporter NONE unless the edits set
one) and prints a table of the first task's AUC and its difference to one
device, then one JSON line: {"config": path, "auc": {strategy: auc}, "spread":
max - min, "replicas": ..., "seconds": ...}. --config may repeat (an
--edit_config_json for each, in order): a table and a JSON line per config.

DEFAULT and MIRRORED run in one process (`--local`), all configs' runs in that one;
each cluster is one launch.
GPU runs set TF_FORCE_GPU_ALLOW_GROWTH so the tasks of a cluster share the GPUs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ALL = ["DEFAULT", "MIRRORED", "MULTI_WORKER_MIRRORED", "PARAMETER_SERVER"]
CLUSTER = {"MULTI_WORKER_MIRRORED": (2, 0), "PARAMETER_SERVER": (2, 2)}


def edits(base, strategy, num_steps):
    """The run's --edit_config_json: the caller's edits, the strategy and the step count."""
    value = dict(base)
    value["train_config.num_steps"] = num_steps
    value["train_config.distribution.strategy"] = strategy
    value.setdefault("train_config.save_checkpoints_steps", num_steps)
    value.setdefault("train_config.log_step_count_steps", max(num_steps // 4, 1))
    value.setdefault("train_config.save_summary_steps", max(num_steps // 4, 1))
    value.setdefault("eval_config.eval_interval_steps", 0)
    value.setdefault("export_config.exporter", "NONE")  # the AUCs are compared; nothing reads an export
    return value


def auc_key(config_path, edit_json):
    from easyrank.config import load_config  # noqa: PLC0415
    return f"{load_config(config_path, edit_json).model_config.tasks[0].name}/auc"


def run_local(args):
    """In this process: DEFAULT and MIRRORED (every GPU, else 2 logical CPUs)."""
    import easyrank  # noqa: F401, PLC0415 (before tensorflow)

    # isort: split
    import tensorflow as tf  # noqa: PLC0415
    if not tf.config.list_physical_devices("GPU"):
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from easyrank.config import load_config  # noqa: PLC0415
    from easyrank.training import loop, strategies  # noqa: PLC0415
    for run, strategy in ((r, s) for r in runs(args) for s in args.local.split(",")):
        edit = json.dumps(edits(json.loads(run.edit_config_json or "{}"), strategy, args.num_steps))
        config = load_config(run.config, edit)
        model_dir = os.path.join(run.work_dir, strategy.lower())
        start = time.perf_counter()
        results = loop.train_and_evaluate(config, model_dir)
        replicas = strategies.build_strategy(config.train_config).num_replicas_in_sync
        print("LOCAL " + json.dumps({"config": run.config, "strategy": strategy, "results": results,
                                     "replicas": replicas,
                                     "seconds": time.perf_counter() - start}), flush=True)


def runs(args):
    """A namespace per --config with its --edit_config_json (paired in order) and work dir
    (--work_dir itself for one config, else a folder per config)."""
    configs = args.config or [os.path.join(ROOT, "samples/configs/census_mlp.config")]
    edit_jsons = args.edit_config_json or [""] * len(configs)
    if len(edit_jsons) != len(configs):
        raise SystemExit("Give one --edit_config_json per --config, or none.")
    return [argparse.Namespace(**dict(vars(args), config=config, edit_config_json=edit,
                                      work_dir=args.work_dir if len(configs) == 1 else os.path.join(
                                          args.work_dir, os.path.basename(config).split(".")[0])))
            for config, edit in zip(configs, edit_jsons)]


def run_cluster(strategy, args, env, timeout):
    workers, ps = CLUSTER[strategy]
    model_dir = os.path.join(args.work_dir, strategy.lower())
    edit = json.dumps(edits(json.loads(args.edit_config_json or "{}"), strategy, args.num_steps))
    command = [sys.executable, "-m", "easyrank.launch", "--num_workers", str(workers),
               "--num_ps", str(ps), "--timeout_seconds", str(timeout), "--",
               "--pipeline_config_path", args.config, "--model_dir", model_dir,
               "--edit_config_json", edit]
    start = time.perf_counter()
    try:  # the launcher stops its tasks at --timeout_seconds
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout + 60, check=False)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{strategy} ran past {timeout + 60:.0f} s") from None
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-2000:])
        raise SystemExit(f"{strategy} failed with exit code {done.returncode}")
    with open(os.path.join(model_dir, "eval_result.json"), encoding="utf-8") as f:
        return json.load(f), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append",
                        help="Default census_mlp; repeated: each config in turn, the one-device "
                        "runs of all in one process.")
    parser.add_argument("--edit_config_json", action="append", help="One per --config.")
    parser.add_argument("--num_steps", type=int, default=300)
    parser.add_argument("--strategies", default=",".join(ALL))
    parser.add_argument("--work_dir", default="")
    parser.add_argument("--timeout_seconds", type=float, default=900,
                        help="Per run; a run past it fails the tool.")
    parser.add_argument("--local", default="", help=argparse.SUPPRESS)  # the in-process runs
    args = parser.parse_args()
    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="easyrank_agree_")
    if args.local:
        return run_local(args)

    sys.path.insert(0, ROOT)
    env = dict(os.environ, TF_FORCE_GPU_ALLOW_GROWTH="true", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    configs = runs(args)
    for run in configs:  # loads and checks each config before any training
        run.key = auc_key(run.config, run.edit_config_json or None)
    wanted = [s for s in args.strategies.split(",") if s]
    local_rows = {}
    local = [s for s in wanted if s not in CLUSTER]
    if local:
        command = [sys.executable, os.path.abspath(__file__), "--num_steps", str(args.num_steps),
                   "--work_dir", args.work_dir, "--local", ",".join(local)]
        for run in configs:
            command += ["--config", run.config, "--edit_config_json", run.edit_config_json]
        timeout = args.timeout_seconds * len(local) * len(configs)
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"{','.join(local)} ran past {timeout:.0f} s") from None
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"{','.join(local)} failed with exit code {done.returncode}")
        for line in done.stdout.splitlines():
            if line.startswith("LOCAL "):
                run = json.loads(line[6:])
                local_rows[run["config"], run["strategy"]] = (
                    run["results"], run["replicas"], run["seconds"])
    for run in configs:
        report(run, wanted, {s: local_rows[run.config, s] for s in local}, env)
    return 0


def report(args, wanted, rows, env):
    """The clusters of one config, then its table and JSON line."""
    key = args.key
    for strategy in wanted:
        if strategy in CLUSTER:
            results, seconds = run_cluster(strategy, args, env, args.timeout_seconds)
            workers, ps = CLUSTER[strategy]
            rows[strategy] = (results, f"{workers} workers" + (f", {ps} ps" if ps else ""),
                              seconds)
    base = rows.get("DEFAULT", next(iter(rows.values())))[0][key]
    print(f"| strategy | replicas | steps | {key} | vs DEFAULT | seconds |")
    print("|---|---|---:|---:|---:|---:|")
    for strategy in wanted:
        results, replicas, seconds = rows[strategy]
        print(f"| {strategy} | {replicas} | {results['global_step']} | {results[key]:.4f} | "
              f"{results[key] - base:+.4f} | {seconds:.0f} |")
    aucs = {s: rows[s][0][key] for s in wanted}
    print(json.dumps({"config": args.config, "auc": aucs, "spread": max(aucs.values()) - min(aucs.values()),
                      "steps": {s: rows[s][0]["global_step"] for s in wanted},
                      "replicas": {s: rows[s][1] for s in wanted},
                      "seconds": {s: rows[s][2] for s in wanted}}))


if __name__ == "__main__":
    sys.exit(main())
