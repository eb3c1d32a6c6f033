"""DIN's history block against mean pooling on MovieLens, chosen on the validation split (issue 24).

Each variant is samples/configs/movielens_din.config with its `din { ... }` line replaced (or
movielens_mean_pool.config), trained on train.csv.gz for each seed by `python -m easyrank.train`
(export off) and evaluated by the run on eval_input_path, valid.csv.gz. The choice is made on
these numbers. --test VARIANT (repeatable) then evaluates those variants' checkpoints once on
test.csv.gz (`python -m easyrank.evaluate --eval_input_path`). A run whose model_dir already has
its result is not repeated, so the test step can follow the choice without retraining.

    python tools/din_validation.py --out_dir /tmp/din_valid --seeds 2024
    python tools/din_validation.py --out_dir /tmp/din_valid --seeds 2024 \
        --test din_prelu --test mean_pool

Prints one Markdown row per variant: AUC and GAUC of `like` per seed and their means.
"""

import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "samples", "configs")
DATA = os.path.join(ROOT, "samples", "data", "movielens")
DIN_BLOCK = re.compile(r"din \{[^}]*\}")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sample_quality import read_json, run_module  # noqa: E402

# variant -> (config, the din block that replaces the config's, or None: the config as it is)
VARIANTS = {
    "din_prelu": ("movielens_din.config",  # the paper's unit, unnormalised weights
                  'din { attention_units: [80, 40] attention_activation: "prelu" normalize: false }'),
    "din_prelu_softmax": ("movielens_din.config",  # shipped since issue 24: chosen on valid
                          'din { attention_units: [80, 40] attention_activation: "prelu" normalize: true }'),
    "din_sigmoid": ("movielens_din.config",
                    'din { attention_units: [64, 32] attention_activation: "sigmoid" normalize: false }'),
    "mean_pool": ("movielens_mean_pool.config", None),
}


def variant_config(name, out_dir):
    """Path of the variant's config (written under out_dir if it differs from the sample)."""
    config, line = VARIANTS[name]
    path = os.path.join(CONFIGS, config)
    if line is None:
        return path
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if len(DIN_BLOCK.findall(text)) != 1:
        raise SystemExit("%s: expected one din { ... } block to replace" % path)
    out = os.path.join(out_dir, name + ".config")
    with open(out, "w", encoding="utf-8") as f:
        f.write(DIN_BLOCK.sub(line, text))
    return out


def train_on_valid(name, seed, out_dir):
    """{metric: value} on valid.csv.gz of the variant trained with seed (trains once)."""
    model_dir = os.path.join(out_dir, "%s.%d" % (name, seed))
    result = os.path.join(model_dir, "eval_result.json")
    if not os.path.exists(result):
        edits = {"train_config.seed": seed, "export_config.exporter": "NONE",
                 "eval_input_path": [os.path.join(DATA, "valid.csv.gz")]}
        run_module(["easyrank.train", "--pipeline_config_path", variant_config(name, out_dir),
                    "--model_dir", model_dir, "--edit_config_json", json.dumps(edits)])
    return read_json(result)


def evaluate_on_test(name, seed, out_dir):
    """{metric: value} on test.csv.gz of the trained variant's final checkpoint."""
    model_dir = os.path.join(out_dir, "%s.%d" % (name, seed))
    result = os.path.join(model_dir, "test_result.json")
    if not os.path.exists(result):
        run_module(["easyrank.evaluate", "--pipeline_config_path", variant_config(name, out_dir),
                    "--model_dir", model_dir, "--eval_input_path", os.path.join(DATA, "test.csv.gz"),
                    "--output_path", result])
    return read_json(result)


def row(name, results):
    cells = []
    for metric in ("like/auc", "like/gauc"):
        values = [r[metric] for r in results]
        cells += [", ".join("%.4f" % v for v in values), "%.4f" % (sum(values) / len(values))]
    return "| %s | %s |" % (name, " | ".join(cells))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out_dir", required=True)
    p.add_argument("--seeds", default="2024", help="comma-separated train_config.seed values")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--test", action="append", default=[], help="a variant to evaluate on test")
    args = p.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = args.variants.split(",")
    for name in names + args.test:
        if name not in VARIANTS:
            raise SystemExit("unknown variant %r (known: %s)" % (name, ", ".join(VARIANTS)))
    print("| variant (valid) | AUC (seeds %s) | mean | GAUC | mean |" % args.seeds)
    print("|---|---|---:|---|---:|")
    for name in names:
        print(row(name, [train_on_valid(name, s, args.out_dir) for s in seeds]), flush=True)
    if args.test:
        print("\n| variant (test) | AUC (seeds %s) | mean | GAUC | mean |" % args.seeds)
        print("|---|---|---:|---|---:|")
        for name in args.test:
            print(row(name, [evaluate_on_test(name, s, args.out_dir) for s in seeds]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
