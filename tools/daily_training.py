#!/usr/bin/env python3
"""The daily training loop on MovieLens: slices of time trained one after the other.

The training rows of samples/data/movielens (already split by time from the
test rows) are sorted by timestamp and cut into `--num_slices` consecutive
slices with the same number of ratings: slice 0 plays "the history before
day 1", slices 1.. the following days. Each day trains on its slice and is
evaluated on the next one (the last day on test.csv.gz), the way a daily job
is judged by tomorrow's traffic. Three ways to train each day:

  continue    one model_dir; each day's run continues yesterday's checkpoint
              on the new file (weights, optimizer state, global step)
  warm_start  a new model_dir per day with train_config.fine_tune_checkpoint
              pointing at yesterday's (weights only, fresh optimizer)
  scratch     a new model_dir per day, trained on that day's slice only

Each run is `python -m easyrank.train` in its own process, as a scheduler
would start it (docs/daily_training.md). Writes <work_dir>/daily_results.json
and prints a Markdown table of the metrics per day:

    python tools/daily_training.py --work_dir /tmp/easyrank/daily
"""

import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "samples", "data", "movielens")
MODES = ("continue", "warm_start", "scratch")
METRIC = "like/auc"


def write_slices(train_path, out_dir, num_slices, max_rows=0):
    """Writes slice_<i>.csv (time order, equal row counts); returns their paths and time ranges."""
    with gzip.open(train_path, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    column = header.index("timestamp")
    order = sorted(range(len(rows)), key=lambda i: (int(rows[i][column]), i))
    if max_rows:
        order = order[-max_rows:]  # the most recent rows
    os.makedirs(out_dir, exist_ok=True)
    slices = []
    for s in range(num_slices):
        part = order[s * len(order) // num_slices:(s + 1) * len(order) // num_slices]
        path = os.path.join(out_dir, f"slice_{s}.csv")
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows[i] for i in part)
        times = [int(rows[i][column]) for i in part]
        slices.append({"path": path, "rows": len(part), "from": min(times), "to": max(times)})
    return slices


def train(config, model_dir, train_path, eval_path, log_path, edits=None):
    """One daily run of `python -m easyrank.train`; returns its eval_result.json."""
    overrides = {"train_input_path": [train_path], "eval_input_path": [eval_path], **(edits or {})}
    command = [sys.executable, "-m", "easyrank.train", "--pipeline_config_path", config,
               "--model_dir", model_dir, "--edit_config_json", json.dumps(overrides)]
    with open(log_path, "w") as log:
        code = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}; see {log_path}")
    with open(os.path.join(model_dir, "eval_result.json")) as f:
        return json.load(f)


def run(config, work_dir, num_slices, modes, max_rows=0, edits=None):
    """Trains every day in every mode; returns {"slices": [...], "days": [{mode: metrics}]}."""
    slices = write_slices(os.path.join(DATA, "train.csv.gz"), os.path.join(work_dir, "slices"),
                          num_slices, max_rows)
    evals = [s["path"] for s in slices[1:]] + [os.path.join(DATA, "test.csv.gz")]
    days = []
    for day, (piece, eval_path) in enumerate(zip(slices, evals)):
        results = {}
        for mode in modes:
            if day == 0 and results:
                # Day 0 trains from scratch in every mode: train once, copy the model_dir.
                first = next(iter(results))
                shutil.copytree(_model_dir(work_dir, first, 0), _model_dir(work_dir, mode, 0))
                results[mode] = results[first]
                continue
            model_dir = _model_dir(work_dir, mode, day)
            day_edits = dict(edits or {})
            if mode == "warm_start" and day > 0:
                day_edits["train_config.fine_tune_checkpoint"] = _model_dir(work_dir, mode, day - 1)
            log = os.path.join(work_dir, f"{mode}_day{day}.log")
            results[mode] = train(config, model_dir, piece["path"], eval_path, log, day_edits)
        days.append(results)
        print(f"day {day}: " + ", ".join(f"{m} {r.get(METRIC, float('nan')):.4f}"
                                         for m, r in results.items()), flush=True)
    report = {"config": config, "slices": slices, "days": days}
    with open(os.path.join(work_dir, "daily_results.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def _model_dir(work_dir, mode, day):
    """continue: one model_dir for all days; the others: one per day."""
    return os.path.join(work_dir, mode if mode == "continue" else f"{mode}_day{day}")


def table(report, metrics=("like/auc", "like/gauc", "like/logloss")):
    """A Markdown table: one row per day, one column per mode and metric."""
    modes = list(report["days"][0])
    head = ["day", "train rows", "eval on"] + [f"{m} {k.split('/')[1]}" for k in metrics for m in modes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for day, results in enumerate(report["days"]):
        target = f"slice {day + 1}" if day + 1 < len(report["slices"]) else "test"
        cells = [str(day), str(report["slices"][day]["rows"]), target]
        cells += [f"{results[m].get(k, float('nan')):.4f}" for k in metrics for m in modes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "samples", "configs",
                                                         "movielens_mean_pool.config"))
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--num_slices", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--max_rows", type=int, default=0,
                        help="Use only the most recent rows of train (0: all), for quick runs.")
    parser.add_argument("--edit_config_json", default="{}",
                        help="Further overrides for every run, as for easyrank.train.")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or args.num_slices < 2:
        parser.error(f"--modes takes {', '.join(MODES)}; --num_slices >= 2 (got {unknown}, "
                     f"{args.num_slices}).")
    report = run(args.config, args.work_dir, args.num_slices, modes, args.max_rows,
                 json.loads(args.edit_config_json))
    print(table(report))


if __name__ == "__main__":
    main()
