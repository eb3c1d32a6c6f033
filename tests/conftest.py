"""Session fixtures: each sample config is trained once per test session and shared.

The suite must run in a coffee break on 2 cores (issue 23), so the expensive things are made
once, on first use, and every test that needs them reads the same result:

- `census_parquet`: the census splits as Parquet (the sample config's conversion command).
- `criteo_data`: generated Criteo-like train and eval CSV files (the sample's commands, smaller).
- `sample_full(name)`: the samples of FULL, trained as shipped to the end, evaluated on the
  held-out test split before training (`before`, the same seed's initial model) and after
  (`after`), and exported as the config says (exporter FINAL).
- `sample_slice(name)`: every other sample, trained a few dozen steps on a slice of its own
  data, evaluated before and after on the first rows of its evaluation split, and exported.
- `sample_run(name)`: the one run of a sample, full or slice. Its export is what the
  check_export test of every sample reads, and the per-block end-to-end tests use it.

A sample with a full run has no slice run: the full run's before/after pair is the stronger
"it learns" check (tests/e2e/sample_targets_test.py), and its export is checked as the slice's was.

Under pytest-xdist (pytest.ini runs the suite on every core) each of these is still made once
for the whole session: the first worker that needs one makes it under a file lock in the
session's shared temporary directory and writes a JSON record of it; the other workers wait
for the lock and read the record (`_once`). Tests of a file with module-scoped fixtures run on
one worker (`pytest_collection_modifyitems`), so those fixtures are made once too.

Configs and results are fresh copies on every call; model_dir and export_dir are shared and
read-only: a test that trains further or exports again copies the directory first
(shutil.copytree). A new test that trains and never reads the export sets
`"export_config.exporter": "NONE"` (an export costs about as much as a short training run).
"""

import fcntl
import json
import os
import subprocess
import sys
import types

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "samples", "configs")
CENSUS = os.path.join(ROOT, "samples", "data", "census")
MOVIELENS = os.path.join(ROOT, "samples", "data", "movielens")

# config -> (training steps, evaluation steps of 256 rows; 0: the whole evaluation split) of
# the slice run. 60 steps of 256 rows are a fifth of an epoch of census. The POSO samples
# learn slowly and the first evaluation rows are the hardest: 280 steps (of the 284 of an epoch
# of MovieLens train), the whole validation split.
# The samples whose full run (as shipped, to the end) is in the suite, with its target on the
# test split (tests/e2e/sample_targets_test.py SLOW). They have no slice run.
FULL = (
    "census_mlp", "census_dcn_mix", "census_dcn_mix_parquet", "census_dcn_v2", "census_masknet",
    "census_fibinet", "census_mmoe", "census_shared_bottom", "census_ple", "movielens_din",
    "movielens_mean_pool", "movielens_ctcvr", "movielens_esmm", "movielens_ranking",
    "movielens_poso", "movielens_poso_baseline")
# config -> (training steps, evaluation steps of 256 rows) of the slice run of every other
# sample. 60 steps of 256 rows are a fifth of an epoch of census.
SLICE_STEPS = {name: (60, 16) for name in (
    "census_deepfm", "census_wide_deep", "census_dlrm", "movielens_bst", "movielens_din_dynamic",
    "criteo_mlp", "movielens_features")}
SLICE_BATCH = 256


def pytest_collection_modifyitems(config, items):
    """Keeps the tests of a file that uses a module-scoped fixture of its own on one xdist
    worker (--dist loadgroup), so that the fixture is made once."""
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        if defs is None:
            continue
        for name in item.fixturenames:
            for fixture in defs.name2fixturedefs.get(name, ()):
                if fixture.scope == "module" and fixture.baseid and fixture.baseid != "tests":
                    item.add_marker(pytest.mark.xdist_group(fixture.baseid))
                    break
            else:
                continue
            break


def _shared_dir(tmp_path_factory):
    """The session's temporary directory that every xdist worker sees."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _plain(value):
    """JSON for NumPy scalars and arrays in a record."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _once(tmp_path_factory, key, make):
    """make(directory) -> a JSON-able record, run once per session across xdist workers: the
    first caller runs it under a file lock and writes the record; later callers read it."""
    root = _shared_dir(tmp_path_factory)
    record = root / f"{key}.json"
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            directory = root / key
            directory.mkdir(exist_ok=True)
            record.write_text(json.dumps(make(directory), default=_plain))
        return json.loads(record.read_text())


@pytest.fixture(scope="session")
def census_parquet(tmp_path_factory):
    """{"train"|"eval"|"test": path} of the census splits converted to Parquet, made once."""
    return _once(tmp_path_factory, "census_parquet", _convert_census)


def _convert_census(out):
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_to_parquet.py"),
                    "--config", os.path.join(CONFIGS, "census_dcn_mix.config"),
                    "--output_dir", str(out), "--row_group_size", "20000"]
                   + [arg for split in ("train", "eval", "test") for arg in (
                       "--input", os.path.join(CENSUS, f"{split}.csv.gz"))],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    return {split: str(out / f"{split}.parquet") for split in ("train", "eval", "test")}


@pytest.fixture(scope="session")
def criteo_data(tmp_path_factory):
    """{"train"|"eval": path}: 40,000 and 8,192 generated Criteo-like rows, made once."""
    return _once(tmp_path_factory, "criteo", _generate_criteo)


def _generate_criteo(out):
    for split, rows, seed in (("train", 40000, 1), ("eval", 8192, 2)):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "generate_criteo.py"), "--rows", str(rows),
                        "--max_vocab", "100000", "--seed", str(seed), "--output", str(out / split)],
                       check=True, cwd=ROOT, capture_output=True, timeout=300)
    return {split: str(out / f"{split}.csv") for split in ("train", "eval")}


@pytest.fixture(scope="session")
def load_sample(request):
    """load_sample(name, edits=None): the sample config with its data.

    criteo_ reads the generated data of `criteo_data`; *_parquet the Parquet census splits of
    `census_parquet` (each made on first use only).
    """
    from easyrank import config as config_lib

    def load(name, edits=None):
        edits = dict(edits or {})
        if name.startswith("criteo_"):
            data = request.getfixturevalue("criteo_data")
            edits.update({"train_input_path": [data["train"]], "eval_input_path": [data["eval"]]})
        if name.endswith("_parquet"):
            data = request.getfixturevalue("census_parquet")
            edits.update({"train_input_path": [data["train"]], "eval_input_path": [data["eval"]]})
        return config_lib.load_config(os.path.join(CONFIGS, f"{name}.config"), edit_config_json=edits)
    return load


def _untrained_results(config, steps):
    """The model of `config` as the train loop initialises it (same seed), evaluated untrained."""
    import tf_keras

    from easyrank.evaluation import evaluator
    from easyrank.training import model_state, strategies
    tf_keras.utils.set_random_seed(config.train_config.seed)
    model, _ = model_state.create_model(config, strategies.build_strategy(config.train_config))
    return evaluator.evaluate_model(model, evaluator.eval_dataset(config), config, steps)


@pytest.fixture(scope="session")
def sample_slice(tmp_path_factory, load_sample):
    """sample_slice(name) -> namespace(config, model_dir, export_dir, steps, eval_steps, before, after).

    The sample trained SLICE_STEPS[name][0] steps of 256 rows of its own training split,
    evaluated on the first SLICE_STEPS[name][1] x 256 rows of its evaluation split (0: all),
    before training (`before`, the same seed's initial model) and after (`after`, also in
    model_dir/eval_result.json), through the whole train loop; exported once, at the end, to
    export_dir (<model_dir>/export). Trained on first use, once per session. Samples of FULL
    have no slice run (`sample_full`).
    """
    from easyrank.training import loop

    def get(name):
        assert name not in FULL, f"{name} has a full run, not a slice run: use sample_run or sample_full"
        steps, eval_steps = SLICE_STEPS[name]
        edits = {"data_config.batch_size": SLICE_BATCH, "data_config.shuffle_buffer_size": 4096,
                 "train_config.num_steps": steps, "train_config.num_epochs": 1,
                 "train_config.save_checkpoints_steps": steps, "train_config.log_step_count_steps": steps,
                 "eval_config.batch_size": SLICE_BATCH, "eval_config.num_eval_steps": eval_steps}
        config = load_sample(name, edits)

        def train(model_dir):
            before = _untrained_results(config, eval_steps)
            after = loop.train_and_evaluate(config, str(model_dir))
            return {"model_dir": str(model_dir), "before": before, "after": after}
        run = _once(tmp_path_factory, f"slice_{name}", train)
        return types.SimpleNamespace(
            config=config, model_dir=run["model_dir"], export_dir=os.path.join(run["model_dir"], "export"),
            steps=steps, eval_steps=eval_steps, before=run["before"], after=run["after"])
    get.names = sorted(SLICE_STEPS)
    return get


def _test_split(name, config, request):
    """The held-out test split of the sample: census's test.csv.gz (or its Parquet copy);
    MovieLens's test.csv.gz (the ranking samples' eval_input_path is valid.csv.gz, the period
    between train and test)."""
    if name.endswith("_parquet"):
        return [request.getfixturevalue("census_parquet")["test"]]
    if name.startswith("census_"):
        return [os.path.join(CENSUS, "test.csv.gz")]
    if name.startswith("movielens_") and not name.startswith("movielens_retrieval"):
        return [os.path.join(MOVIELENS, "test.csv.gz")]
    return list(config.eval_input_path)


@pytest.fixture(scope="session")
def sample_full(request, tmp_path_factory, load_sample):
    """sample_full(name) -> namespace(config, model_dir, export_dir, before, after, results): a
    sample of FULL as shipped (criteo: the generated data; parquet: the Parquet splits), trained
    to its end through the whole train loop, evaluated on the held-out test split (census and
    MovieLens: test.csv.gz; others: eval_input_path), which training never reads, before
    training (`before`, the same seed's initial model) and after (`after`, also `results`);
    exported as the config says, to export_dir (<model_dir>/export). Trained on first use, once
    per session; the final checkpoint is tf.train.latest_checkpoint(model_dir).
    """
    from easyrank.training import loop

    def get(name):
        assert name in FULL, f"{name} has no full run in the suite (conftest.FULL): use sample_run"
        config = load_sample(name)
        test = _test_split(name, config, request)
        del config.eval_input_path[:]
        config.eval_input_path.extend(test)

        def train(model_dir):
            before = _untrained_results(config, config.eval_config.num_eval_steps)
            after = loop.train_and_evaluate(config, str(model_dir))
            return {"model_dir": str(model_dir), "before": before, "after": after}
        run = _once(tmp_path_factory, f"full_{name}", train)
        return types.SimpleNamespace(
            config=config, model_dir=run["model_dir"], export_dir=os.path.join(run["model_dir"], "export"),
            before=run["before"], after=run["after"], results=run["after"])
    get.names = sorted(FULL)
    return get


@pytest.fixture(scope="session")
def sample_run(sample_full, sample_slice):
    """sample_run(name): the one run of the sample in this session, its full run if it has one
    (FULL), else its slice run; both have config, model_dir, export_dir, before and after."""
    def get(name):
        return sample_full(name) if name in FULL else sample_slice(name)
    get.names = sorted(set(FULL) | set(SLICE_STEPS))
    return get
