"""Global-batch negatives under MirroredStrategy (2 logical CPUs) equal one device on the same batch."""

import easyrank  # noqa: F401

# isort: split

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_SCRIPT = textwrap.dedent("""
    import json, sys
    import easyrank
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import tf_keras
    from easyrank.config import load_config
    from easyrank.data import build_dataset
    from easyrank.training import model_state, strategies

    def run(strategy_name, global_negatives):
        config = load_config("samples/configs/movielens_retrieval_ids.config", {
            "train_config.distribution.strategy": strategy_name,
            "model_config.retrieval.global_batch_negatives": global_negatives,
            "model_config.retrieval.remove_accidental_hits": True,
            "model_config.retrieval.logq_correction": True})
        config.train_config.optimizer.adam.learning_rate = 0.05
        tf_keras.utils.set_random_seed(7)
        strategy = strategies.build_strategy(config.train_config)
        model, _ = model_state.create_model(config, strategy)
        data = build_dataset(config.data_config, config.train_input_path, training=False,
                             batch_size=64).take(2)
        model.fit(data, epochs=1, verbose=0)
        weights = {v.name: v.numpy().tolist() for v in model.trainable_variables}
        return strategy.num_replicas_in_sync, weights

    runs = {}
    for spec in sys.argv[2:]:
        name, negatives = spec.split("-")
        tf_keras.backend.clear_session()  # the same layer (and variable) names each run
        replicas, weights = run(name, negatives == "global")
        runs[spec] = {"replicas": replicas, "weights": weights}
    json.dump(runs, open(sys.argv[1], "w"))
""")


@pytest.mark.slow
def test_mirrored_global_batch_negatives_equal_one_device(tmp_path):
    # One device runs beside at most one MirroredStrategy a process: two MirroredStrategies in
    # one process may share collective keys.
    runs = {}
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    for specs in [["DEFAULT-global", "MIRRORED-global"], ["MIRRORED-local"]]:
        out = tmp_path / f"{specs[-1]}.json"
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(out), *specs], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.update(json.loads(out.read_text()))
    assert runs["DEFAULT-global"]["replicas"] == 1 and runs["MIRRORED-global"]["replicas"] == 2
    import numpy as np
    one, mirrored, local = (runs[k]["weights"] for k in ("DEFAULT-global", "MIRRORED-global",
                                                          "MIRRORED-local"))
    assert one.keys() == mirrored.keys()
    moved = 0.0
    for name in one:
        np.testing.assert_allclose(mirrored[name], one[name], atol=2e-5, err_msg=name)
        moved = max(moved, float(np.abs(np.asarray(local[name]) - np.asarray(one[name])).max()))
    # Per-replica negatives (the documented cheaper choice) train differently.
    assert moved > 1e-4
