"""Export for TF Serving: signatures, method names, warmup records, deployment files, check_export."""

import os

import easyrank  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow)

# isort: split
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from easyrank.config import load_config
from easyrank.models import build_model
from easyrank.serving import checks, deployment, saved_model, warmup
from easyrank.serving.serving_sim import read_logs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "tests", "data", "census_tiny.csv")


def census_config(num_tasks=1):
    """census_mlp on the tiny fixture; with 2 tasks the second is a regression."""
    config = load_config(os.path.join(ROOT, "samples", "configs", "census_mlp.config"))
    for paths in (config.train_input_path, config.eval_input_path):
        del paths[:]
        paths.append(TINY)
    config.export_config.num_warmup_rows = 8
    config.export_config.model_name = "census"
    if num_tasks == 2:
        task = config.model_config.tasks.add(name="never_married", label="never_married")
        task.loss = task.MEAN_SQUARED_ERROR
    return config


def export_once(tmp, num_tasks=1, keep=0):
    config = census_config(num_tasks)
    model = build_model(config)
    return config, model, saved_model.export_model(model, config, os.path.join(tmp, "export"), keep=keep)


def signature_defs(version_dir):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    return {k: v for k, v in saved_model.meta_graphs[0].signature_def.items() if not k.startswith("__")}


class ExportTest(tf.test.TestCase):

    def test_single_task_signatures_warmup_and_files(self):
        tmp = self.get_temp_dir()
        config, model, version_dir = export_once(tmp)
        sigs = signature_defs(version_dir)
        self.assertEqual({k: v.method_name for k, v in sigs.items()}, {
            "serving_default": "tensorflow/serving/predict", "raw_features": "tensorflow/serving/predict",
            "regress": "tensorflow/serving/regress", "classify": "tensorflow/serving/classify"})
        self.assertEqual(list(sigs["regress"].inputs), ["inputs"])
        self.assertEqual(list(sigs["regress"].outputs), ["outputs"])
        self.assertEqual(sorted(sigs["classify"].outputs), ["classes", "scores"])
        self.assertEqual(sorted(sigs["serving_default"].outputs), ["income/logits", "income/probs"])
        for sig in sigs.values():
            for name, info in sig.outputs.items():
                if name != "classes":
                    self.assertEqual(info.dtype, tf.float32.as_datatype_enum, name)

        # Warmup: 4 signatures x (1 row, 8 rows), real rows from the eval data.
        logs = read_logs(os.path.join(version_dir, "assets.extra", saved_model.WARMUP_ASSET))
        self.assertLen(logs, 8)
        kinds = sorted(log.WhichOneof("log_type") for log in logs)
        self.assertEqual(kinds, ["classify_log"] * 2 + ["predict_log"] * 4 + ["regress_log"] * 2)
        first = logs[0].classify_log.request.input.example_list.examples[0]
        self.assertEqual(first.features.feature["age"].float_list.value, [5.0])  # row 1 of census_tiny
        self.assertEqual(logs[0].classify_log.request.model_spec.name, "census")

        # The loaded signatures agree with the model in memory.
        features, _ = warmup.read_rows(config, 8)
        expected = model(features, training=False)["income/probs"].numpy()
        loaded = tf.saved_model.load(version_dir)
        examples = [e.SerializeToString() for e in warmup.to_examples(features)]
        self.assertAllClose(loaded.signatures["regress"](inputs=tf.constant(examples))["outputs"], expected,
                            atol=1e-6)
        scores = loaded.signatures["classify"](inputs=tf.constant(examples))["scores"].numpy()
        self.assertAllClose(scores, np.stack([1 - expected, expected], axis=1), atol=1e-6)
        raw = loaded.signatures["raw_features"](**{k: tf.constant(v) for k, v in features.items()})
        self.assertAllClose(raw["income/probs"], expected, atol=1e-6)
        # A missing feature takes the config's default (age 0.0).
        no_age = tf.train.Example()
        no_age.CopyFrom(warmup.to_examples(features)[0])
        del no_age.features.feature["age"]
        with_zero = {k: v[:1] for k, v in features.items()}
        with_zero["age"] = np.zeros([1], np.float32)
        self.assertAllClose(loaded.signatures["serving_default"](
            examples=tf.constant([no_age.SerializeToString()]))["income/probs"],
            model(with_zero, training=False)["income/probs"], atol=1e-6)

        # Deployment files beside the versions.
        base = os.path.dirname(version_dir)
        self.assertCountEqual(os.listdir(base), [os.path.basename(version_dir), "models.config",
                                                 "batching_parameters.txt", "monitoring.config", "README.md"])
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2
        with open(os.path.join(base, deployment.MODELS_CONFIG)) as f:
            models = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
        spec = models.model_config_list.config[0]
        self.assertEqual((spec.name, spec.base_path, spec.model_platform), ("census", base, "tensorflow"))
        self.assertEqual(spec.model_version_policy.latest.num_versions, 1)

    def test_versions_grow_and_keep(self):
        tmp = self.get_temp_dir()
        config = census_config()
        model = build_model(config)
        base = os.path.join(tmp, "export")
        os.makedirs(os.path.join(base, "9999999999"))  # a version from the future
        first = saved_model.export_model(model, config, base, keep=2)
        second = saved_model.export_model(model, config, base, keep=2)
        self.assertEqual(int(os.path.basename(first)), 10000000000)
        self.assertEqual(int(os.path.basename(second)), 10000000001)
        self.assertEqual(saved_model.versions(base), ["10000000000", "10000000001"])
        self.assertFalse([d for d in os.listdir(base) if d.startswith(".tmp")])

    def test_multi_task_export_passes_check(self):
        tmp = self.get_temp_dir()
        config, _, version_dir = export_once(tmp, num_tasks=2)
        self.assertEqual({k: v.method_name for k, v in signature_defs(version_dir).items()}, {
            "serving_default": "tensorflow/serving/predict", "raw_features": "tensorflow/serving/predict",
            "income/regress": "tensorflow/serving/regress", "income/classify": "tensorflow/serving/classify",
            "never_married/regress": "tensorflow/serving/regress"})
        problems, lines = checks.check(os.path.dirname(version_dir), num_rows=16)
        self.assertEqual(problems, [])
        self.assertTrue(any("never_married/regress/outputs vs model in memory" in line for line in lines))
        self.assertTrue(any("easyrank.predict never_married/predictions" in line for line in lines))

    def test_cc_load_saved_model(self):
        from easyrank.serving import cc_check
        binary, reason = cc_check.build()
        self.assertIsNotNone(binary, reason)  # fails closed: a loader that cannot be built is a failure
        _, _, version_dir = export_once(self.get_temp_dir())
        problems, lines = cc_check.run(version_dir)
        self.assertEqual(problems, [])
        self.assertEqual(lines, ["  C++ tensorflow::LoadSavedModel + Session::Run: 4 signatures OK"])

    def test_latest_and_best_exporters_during_training(self):
        from easyrank.training import loop
        for kind, keep in (("LATEST", 2), ("BEST", 0)):
            config = census_config()
            config.data_config.batch_size = 32
            config.train_config.num_steps = 4
            config.eval_config.eval_interval_steps = 2
            config.export_config.exporter = config.export_config.Exporter.Value(kind)
            config.export_config.metric = "income/logloss"
            config.export_config.metric_larger_is_better = False
            config.export_config.keep = keep
            model_dir = os.path.join(self.get_temp_dir(), kind)
            loop.train_and_evaluate(config, model_dir)
            versions = saved_model.versions(os.path.join(model_dir, "export"))
            if kind == "LATEST":  # evaluations at steps 2 and 4, then the final one: 3 exports, 2 kept
                self.assertLen(versions, 2)
            else:  # the first evaluation always improves on nothing
                self.assertNotEmpty(versions)
            self.assertEqual(versions, sorted(versions, key=int))

    def test_none_exporter_writes_no_export(self):
        from easyrank.training import loop
        config = census_config()
        config.data_config.batch_size = 32
        config.train_config.num_steps = 2
        config.export_config.exporter = config.export_config.NONE
        model_dir = os.path.join(self.get_temp_dir(), "none")
        results = loop.train_and_evaluate(config, model_dir)
        self.assertEqual(results["global_step"], 2)
        self.assertTrue(os.path.exists(os.path.join(model_dir, "eval_result.json")))
        self.assertTrue(tf.train.latest_checkpoint(model_dir).endswith("ckpt-2"))
        self.assertFalse(os.path.exists(os.path.join(model_dir, "export")))


if __name__ == "__main__":
    tf.test.main()


def test_evaluation_and_export_share_one_trace_and_the_warmup_rows(tmp_path):
    # issue 23: the final evaluation's inference function and first rows serve the export.
    from easyrank.evaluation import evaluator
    from easyrank.models.inference import inference_function
    config = census_config()
    model = build_model(config)
    predict, first_batch = inference_function(model), {}
    results = evaluator.evaluate_model(model, evaluator.eval_dataset(config), config,
                                       first_batch=first_batch, predict=predict)
    assert results["num_examples"] == 200
    fresh = saved_model.export_model(model, config, str(tmp_path / "fresh"))
    shared = saved_model.export_model(model, config, str(tmp_path / "shared"), warmup_rows=first_batch,
                                      predict=predict)
    assert predict.experimental_get_tracing_count() == 1  # evaluation, raw and tf.Example signatures
    read = [log.SerializeToString() for log in read_logs(os.path.join(fresh, "assets.extra", saved_model.WARMUP_ASSET))]
    reused = [log.SerializeToString() for log in read_logs(os.path.join(shared, "assets.extra",
                                                                        saved_model.WARMUP_ASSET))]
    assert len(reused) == 8 and reused == read  # 4 signatures x (1 row, all 8 rows)
    features, _ = warmup.read_rows(config, 8)
    expected = model({k: tf.constant(v) for k, v in features.items()}, training=False)["income/probs"].numpy()
    loaded = tf.saved_model.load(shared)
    examples = tf.constant([e.SerializeToString() for e in warmup.to_examples(features)])
    np.testing.assert_allclose(loaded.signatures["serving_default"](examples=examples)["income/probs"].numpy(),
                               expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.signatures["raw_features"](**{k: tf.constant(v) for k, v in features.items()})
                               ["income/probs"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.signatures["regress"](inputs=examples)["outputs"].numpy(), expected,
                               rtol=1e-5, atol=1e-6)
