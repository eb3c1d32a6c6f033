"""The evaluator task of a cluster: evaluates each new checkpoint while the workers train.

A process whose TF_CONFIG task type is "evaluator" (`python -m easyrank.launch
--evaluator`, or a TFJob Evaluator replica; docs/distributed.md) runs run()
instead of training. It takes the newest checkpoint of model_dir it has not
evaluated (older ones that wait are skipped, so that early stopping decides
on current numbers), restores a one-device float32 copy of the model, evaluates
it on eval_input_path (exact metrics, in bounded memory past
eval_config.max_in_memory_rows), writes eval/ summaries and eval_result.json,
and tells the exporter (BEST and LATEST after every evaluation, all of them at
the final checkpoint) and the early stopper. When early stopping fires it
writes model_dir/STOP_FILE; the workers stop at their next check
(stop_file.StopFileWatcher). The chief writes DONE_FILE with the final step
after its last save; the evaluator ends once it has evaluated that step.
eval/evaluator_state.json records what it evaluated, the exporter's best value
and the early stopper's state, so a restarted evaluator goes on with the newest
checkpoint it has not evaluated.

Not tf_keras.utils.SidecarEvaluator: it evaluates with model.evaluate and the
compiled Keras metrics (AUC by thresholds; no GAUC, top k or slices), not the
exact metrics of evaluation/; it cannot tell the final checkpoint (it stops
after max_evaluations or a timeout); it records nothing, so a restarted one
evaluates again; and it has no place to export or stop the workers. Both wait
for checkpoints the same way (a poll of model_dir's checkpoint state).
"""

import logging
import os
import time

import tensorflow as tf
from google.protobuf import text_format

from easyrank.data import list_files
from easyrank.errors import ConfigError
from easyrank.evaluation import evaluator
from easyrank.protos import pipeline_pb2
from easyrank.serving import exporters
from easyrank.training import chunked_restore, early_stopping, strategies
from easyrank.training.model_dir_lock import ModelDirLock
from easyrank.training.stop_file import DONE_FILE, STOP_FILE, read_json, write_json

logger = logging.getLogger(__name__)

STATE_FILE = os.path.join("eval", "evaluator_state.json")
LOCK_FILE = "evaluator.lock"


class EvaluatorLock(ModelDirLock):
    """One evaluator per model_dir: <model_dir>/evaluator.lock (see ModelDirLock)."""

    def __init__(self, model_dir):
        super().__init__(model_dir)
        self.path = os.path.join(model_dir, LOCK_FILE)

    def _busy_message(self, owner):
        return (f"{os.path.dirname(self.path)} already has an evaluator: pid {owner.get('pid')} on host "
                f"{owner.get('host')} ({owner.get('command', '')!r}). A run has one evaluator task; two "
                f"would export and stop the workers twice. Stop that one first, or remove {self.path} "
                "if it is gone. The workers are not affected.")


def check_task(config):
    """ConfigError when this evaluator cannot run: no eval input, or not the only evaluator."""
    cluster = strategies.tf_config().get("cluster") or {}
    evaluators = cluster.get("evaluator") or []
    _, index = strategies.task()
    if len(evaluators) > 1 or index > 0:
        raise ConfigError(
            f"TF_CONFIG names {max(len(evaluators), index + 1)} evaluator tasks; a run has at most one "
            "(it alone exports and decides early stopping). Remove the others from TF_CONFIG's "
            "cluster; the workers are not affected.")
    if not config.eval_input_path:
        raise ConfigError("the evaluator task has nothing to evaluate: set eval_input_path to the "
                          "evaluation files, or remove the evaluator from the cluster (the workers are "
                          "not affected).", path="eval_input_path")
    list_files(config.eval_input_path)  # DataError (exit 3) when they are missing


def run(config, model_dir, poll_seconds=2.0):
    """Evaluates checkpoints of model_dir until the final one; returns the last results."""
    check_task(config)
    _wait_for(model_dir, poll_seconds)
    with EvaluatorLock(model_dir):
        return _Evaluator(config, model_dir).loop(poll_seconds)


def _wait_for(model_dir, poll_seconds):
    """Waits for the chief to create model_dir; ConfigError when it cannot be read or written."""
    logged = False
    while not tf.io.gfile.exists(model_dir):
        if not logged:
            logger.info("Waiting for the workers to create %s.", model_dir)
            logged = True
        time.sleep(poll_seconds)
    try:
        tf.io.gfile.listdir(model_dir)
    except tf.errors.OpError as e:
        raise ConfigError(f"the evaluator cannot read model_dir {model_dir!r} ({e.message}). Give "
                          "it read and write access to the directory the workers write; the "
                          "workers are not affected.", path="model_dir") from None
    if not tf.io.gfile.isdir(model_dir) or (
            "://" not in model_dir and not os.access(model_dir, os.R_OK | os.W_OK | os.X_OK)):
        raise ConfigError(f"the evaluator cannot read and write model_dir {model_dir!r}. Give it "
                          "read and write access to the directory the workers write; the workers "
                          "are not affected.", path="model_dir")


class _Evaluator:
    def __init__(self, config, model_dir):
        self.config, self.model_dir = config, model_dir
        self.state = read_json(os.path.join(model_dir, STATE_FILE)) or {}
        self.exporter = exporters.build_exporter(config, exporters.default_export_dir(config, model_dir))
        if hasattr(self.exporter, "best"):
            self.exporter.best = self.state.get("export_best")
        self.stopper = early_stopping.build(config)
        if self.stopper is not None:
            for key, value in (self.state.get("early_stopping") or {}).items():
                setattr(self.stopper, key, value)
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval"))
        self.results = None

    @property
    def last_step(self):
        return self.state.get("last_step", -1)

    def loop(self, poll_seconds):
        checked = False
        while True:
            done = read_json(os.path.join(self.model_dir, DONE_FILE))
            pending = self._pending()
            if pending and not checked:
                self._check_model()
                checked = True
            if pending:
                step, path = pending[-1]
                if len(pending) > 1:
                    logger.info("Skipping %d older checkpoint(s) not yet evaluated: evaluating the "
                                "newest, step %d.", len(pending) - 1, step)
                final = done is not None and step >= done.get("global_step", -1)
                self._evaluate(step, path, final)
                if final:
                    return self.results
                continue
            if done is not None and self.last_step >= done.get("global_step", -1):
                logger.info("Training ended at step %s, already evaluated; the evaluator ends.",
                            done.get("global_step"))
                return self.results
            time.sleep(poll_seconds)

    def _pending(self):
        """[(step, path)] of the checkpoints not yet evaluated, oldest first."""
        state = tf.train.get_checkpoint_state(self.model_dir)
        if state is None:
            return []
        found = []
        for path in state.all_model_checkpoint_paths:
            path = path if os.path.isabs(path) or "://" in path else os.path.join(self.model_dir, path)
            step = _step_of(path)
            if step is not None and step > self.last_step and tf.io.gfile.exists(path + ".index"):
                found.append((step, path))
        return sorted(found)

    def _check_model(self):
        """ConfigError when the config's model differs from the one the workers train."""
        saved = os.path.join(self.model_dir, "pipeline.config")
        if not tf.io.gfile.exists(saved):
            return
        trained = pipeline_pb2.PipelineConfig()
        try:
            text_format.Parse(tf.io.gfile.GFile(saved).read(), trained)
        except text_format.ParseError:
            return
        ours = self.config
        for field in ("model_config", "feature_configs"):
            a, b = getattr(ours, field), getattr(trained, field)
            if field == "feature_configs":
                a, b = list(a), list(b)
            if a != b:
                raise ConfigError(
                    f"the evaluator's {field} differs from the one the workers train ({saved}); "
                    "its checkpoints would not fit, or would be evaluated with another model. Start "
                    "the evaluator with the workers' config; the workers are not affected.", path=field)

    def _restore(self, path):
        model = evaluator_model(self.config)
        try:
            status = chunked_restore.restore(tf.train.Checkpoint(model=model), path)
            status.assert_existing_objects_matched().expect_partial()
        except (ValueError, AssertionError, tf.errors.InvalidArgumentError) as e:
            raise ConfigError(
                f"the checkpoint {path} does not fit the model of the evaluator's config "
                f"({str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__}). "
                "Start the evaluator with the workers' config; the workers are not affected.",
                path="model_config") from None
        return model

    def _evaluate(self, step, path, final):
        try:
            model = self._restore(path)
        except tf.errors.NotFoundError:  # deleted by keep_checkpoint_max meanwhile
            logger.warning("Checkpoint %s was deleted before it could be evaluated; skipped.", path)
            self.state["last_step"] = step
            return
        started = time.perf_counter()
        results = evaluator.evaluate_model(model, evaluator.eval_dataset(self.config), self.config,
                                           self.config.eval_config.num_eval_steps)
        results["global_step"] = step
        logger.info("Evaluation of step %d (%.1f s): %s", step, time.perf_counter() - started,
                    ", ".join(f"{k} = {v:.5f}" if isinstance(v, float) else f"{k} = {v}"
                              for k, v in sorted(results.items())))
        with self.writer.as_default(step=step):
            for key, value in results.items():
                tf.summary.scalar(key, value)
        self.writer.flush()
        stop = self.stopper is not None and self.stopper.stopped_step is None and \
            self.stopper.update(step, results)
        if self.stopper is not None:
            results.update(self.stopper.summary())
        if stop:
            write_json(os.path.join(self.model_dir, STOP_FILE),
                       {"global_step": step, "reason": self.stopper.reason})
            logger.info("Early stopping: asked the workers to stop (%s).", STOP_FILE)
        evaluator.write_eval_result(self.model_dir, results)
        exported = (self.exporter.at_end if final else self.exporter.after_evaluation)(model, results)
        if exported:
            logger.info("Exported step %d to %s", step, exported)
        self.results = results
        self.state["last_step"] = step
        if hasattr(self.exporter, "best"):
            self.state["export_best"] = self.exporter.best
        if self.stopper is not None:
            self.state["early_stopping"] = {k: getattr(self.stopper, k) for k in (
                "best", "best_step", "waited", "stopped_step", "reason")}
        write_json(os.path.join(self.model_dir, STATE_FILE), self.state)


def evaluator_model(config):
    """A float32 one-device model of `config`, its variables created, for restoring checkpoints."""
    from easyrank.models import build_model
    return build_model(config)


def _step_of(path):
    tail = os.path.basename(path).rsplit("-", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None
