"""Every sample config exports a model that passes check_export (issue 8's deployment path),
its C++ loader included (issue 24).

Each sample's export is the one its run in the suite (tests/conftest.py `sample_run`: the
full run as shipped, or a slice run of a few dozen steps; shared with sample_targets_test.py)
wrote at the end of training.
`checks.check` loads it in a fresh process that never imports easyrank, calls every
signature, replays the warmup records with TF Serving's rules and compares the scores with
`easyrank.predict` and with the model in memory. The checks of one test process share one
serving process and one C++ loader (`CheckProcesses`, as one model server loads several
models; each export is loaded anew): TensorFlow's import and the C++ libraries' load are paid
once, not per sample. `python -m easyrank.check_export` starts both per export
(tests/check_export_test.py, tests/e2e/census_mlp_test.py).
"""

import glob
import os

import easyrank  # noqa: F401

# isort: split
import pytest

from easyrank.serving import checks
from easyrank.serving.check_processes import CheckProcesses

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Retrieval samples export three models with their own checks: tests/e2e/retrieval_test.py.
SAMPLES = sorted(os.path.basename(p)[:-len(".config")]
                 for p in glob.glob(os.path.join(ROOT, "samples", "configs", "*.config"))
                 if "_retrieval" not in os.path.basename(p))


@pytest.fixture(scope="session")  # not module: conftest would keep these tests on one xdist worker
def processes():
    with CheckProcesses() as shared:
        yield shared


def test_every_sample_is_exported_by_its_run(sample_run):
    assert SAMPLES and SAMPLES == sample_run.names


@pytest.mark.slow
@pytest.mark.parametrize("name", SAMPLES)
def test_sample_exports_a_model_that_passes_check_export(name, sample_run, processes):
    run = sample_run(name)
    versions = [d for d in os.listdir(run.export_dir) if d.isdigit()]
    assert len(versions) == 1, versions  # exporter FINAL: one version, at the end of training
    # cc_check: the C++ loader, on TensorFlow's C++ libraries only, as a model server loads it.
    problems, lines = checks.check(run.export_dir, num_rows=16, cc_check=True, processes=processes)
    assert problems == [], "\n".join(lines + problems)
    assert any("vs model in memory" in line for line in lines)
    assert any("C++ tensorflow::LoadSavedModel + Session::Run" in line for line in lines), lines
