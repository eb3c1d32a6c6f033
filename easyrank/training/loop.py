"""Train and evaluate: the life cycle behind `python -m easyrank.train`.

model_dir holds checkpoints (ckpt-<step>), TensorBoard summaries (train/,
eval/), pipeline.config, eval_result.json and, by default, export/<version>/.
A run whose model_dir has a checkpoint resumes from it, skipping the batches
already trained on, so an interrupted run loses at most one checkpoint interval;
on new input it continues instead (training/input_state.py). A run into an
empty model_dir may warm start from train_config.fine_tune_checkpoint
(training/warm_start.py) and stop early (training/early_stopping.py).
"""

import contextlib
import logging
import os

import tensorflow as tf
import tf_keras
from google.protobuf import text_format

from easyrank.data import build_dataset, count_rows, list_files, row_checks
from easyrank.data.compression import is_gzip, verify_gzip
from easyrank.errors import DataError
from easyrank.evaluation import evaluator
from easyrank.io import preflight
from easyrank.io.files import size as file_size
from easyrank.io.files import write_text
from easyrank.models.inference import inference_function
from easyrank.serving import deployment, exporters
from easyrank.training import (
    early_stopping,
    evaluator_task,
    gpu_memory,
    group_check,
    input_state,
    stop_file,
    strategies,
    warm_start,
)
from easyrank.training.callbacks import (
    CheckpointSaver,
    DynamicTableLogger,
    EpochEndAdapter,
    PeriodicEvaluator,
    ProgressLogger,
    StepCounter,
)
from easyrank.training.loss_guard import LossGuard
from easyrank.training.model_dir_lock import ModelDirLock
from easyrank.training.model_state import create_model, global_step, restore, single_device_model
from easyrank.training.phases import FirstStepMarker, PhaseTimer

logger = logging.getLogger(__name__)

# Progress shows step of total when the steps are known: num_steps, or the rows of
# training files this small, counted before training (a few seconds at most).
COUNT_ROWS_MAX_BYTES = 256 << 20


def train_and_evaluate(config, model_dir, input_mode=input_state.AUTO, phases=None):
    """Trains (resuming or continuing), evaluates and exports; returns the final metrics.

    input_mode: "auto", "resume" or "continue" (training/input_state.py).
    phases: a training.phases.PhaseTimer; the chief writes its marks to model_dir/phases.json.

    In a cluster (docs/distributed.md) only the chief writes model_dir,
    evaluates and exports; other workers return None once training ends,
    and the worker and ps tasks of a parameter-server run serve until killed.
    """
    train = config.train_config
    if strategies.task()[0] == "evaluator":  # evaluates the workers' checkpoints (evaluator_task.py)
        return evaluator_task.run(config, model_dir)
    if strategies.is_server_task(train):
        strategies.run_server()
        return None
    chief = strategies.is_chief()
    make_dir(model_dir, "model_dir")
    _check_inputs(config)
    # Only the chief writes model_dir; it holds the lock until it returns or fails.
    with ModelDirLock(model_dir) if chief else contextlib.nullcontext():
        return _train_and_evaluate(config, model_dir, chief, input_mode, phases or PhaseTimer("start"))


def make_dir(path, field):
    """Creates directory `path`; ConfigError naming `field` when it is a file, is on a store
    TensorFlow cannot write, or cannot be made or written (easyrank/io/preflight.py)."""
    preflight.check_tensorflow_path(path, field, write=True)


def _check_inputs(config):
    """Both inputs exist and the eval .gz files are complete, before any training.

    The training files are checked by build_dataset, each worker its own shard.
    """
    parquet = config.data_config.format == config.data_config.PARQUET
    for field in ("train_input_path", "eval_input_path"):
        for pattern in getattr(config, field):
            preflight.check_readable(pattern, field, parquet)
    list_files(config.train_input_path)
    if config.model_config.HasField("retrieval"):  # the candidate file, K against the corpus
        from easyrank.models.retrieval_corpus import check_corpus
        check_corpus(config)
    for path in list_files(config.eval_input_path):
        if is_gzip(path):
            verify_gzip(path)


def _train_and_evaluate(config, model_dir, chief, input_mode, phases):
    train = config.train_config
    stopper = early_stopping.build(config)
    tf_keras.utils.set_random_seed(train.seed)
    strategy = strategies.build_strategy(train)
    gpu_memory.check_tables_fit_gpus(config)  # every GPU holds the tables: fail before training
    # Building the evaluation input checks its CSV header or Parquet schema before the first
    # step (after the strategy: a tf.data pipeline starts TensorFlow's context, and
    # MULTI_WORKER_MIRRORED must configure its collectives first). Every evaluation reuses it.
    eval_dataset = evaluator.eval_dataset(config)
    group_check.check_groups(config)  # a ranking loss that finds no group cannot learn
    multi_worker = strategies.is_multi_worker(strategy)
    model, checkpoint = create_model(config, strategy)
    # Every worker saves (a save may all-reduce), only the chief's land in model_dir.
    checkpoint_dir = strategies.write_dir(model_dir)
    manager = tf.train.CheckpointManager(
        checkpoint, checkpoint_dir, max_to_keep=train.keep_checkpoint_max,
        step_counter=model.optimizer.iterations, checkpoint_interval=train.save_checkpoints_steps)
    resumed = restore(checkpoint, model_dir, fall_back=True)
    if resumed:
        logger.info("Resuming from %s at step %d.", resumed, global_step(model))
        warm_start.check_vocabularies(config, model_dir)
    elif train.fine_tune_checkpoint:
        warm_start.warm_start(config, checkpoint)
    step = global_step(model)
    # A parameter-server run reads its input without end: no batches to count.
    parameter_server = isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)
    plan = input_state.plan(config, resumed, step, input_mode,
                            count_batches=None if parameter_server else lambda: epochs_steps(config))
    checkpoint.input_state = input_state.InputState()
    input_state.record(checkpoint.input_state, config, plan.start_step)
    sidecar = strategies.has_evaluator()
    if chief:  # only once the checks above passed
        if sidecar:
            stop_file.clear(model_dir)
        write_text(os.path.join(model_dir, "pipeline.config"), text_format.MessageToString(config))
        warm_start.save_vocabularies(config, model_dir)

    def eval_data():
        return eval_dataset

    export_dir = exporters.default_export_dir(config, model_dir)
    if chief and exporters.exports(config):
        make_dir(export_dir, "export_config.export_dir")
    exporter = exporters.build_exporter(config, export_dir)
    eval_writer = tf.summary.create_file_writer(os.path.join(model_dir, "eval")) if chief else None

    def report(at_step, results):
        _log_results(at_step, results)
        with eval_writer.as_default(step=at_step):
            for key, value in results.items():
                tf.summary.scalar(key, value)

    def on_eval(at_step, results):
        report(at_step, results)
        exporter.after_evaluation(model, results)
        if stopper is not None and stopper.update(at_step, results):
            model.stop_training = True

    phases.mark("build")
    remaining = plan.remaining
    if remaining is None or remaining > 0:
        dataset, steps_per_epoch = _train_input(config, strategy, step, remaining, skip=plan.skip)
        total = _total_steps(config, step, steps_per_epoch)
        phases.mark("input")
        logger.info("Training %s, batch size %d; checkpoints and summaries in %s",
                    f"to step {total:,}" if total else "until the input ends",
                    config.data_config.batch_size, model_dir)
        train_writer = tf.summary.create_file_writer(os.path.join(model_dir, "train")) if chief else None
        callbacks = [
            # First: it reads the loss before any callback resets it or saves.
            LossGuard([train.log_step_count_steps, train.save_summary_steps, train.save_checkpoints_steps]),
            ProgressLogger(train.log_step_count_steps, config.data_config.batch_size, train_writer,
                           train.save_summary_steps, total_steps=total),
            CheckpointSaver(manager, train.save_checkpoints_steps),
        ]
        dynamic = model.feature_groups.dynamic_tables
        if dynamic and chief:
            callbacks.append(DynamicTableLogger(dynamic, train_writer, train.save_summary_steps))
        if sidecar:  # the evaluator task evaluates; it may ask the workers to stop
            callbacks.append(stop_file.StopFileWatcher(
                model_dir, min(train.log_step_count_steps, train.save_checkpoints_steps), chief,
                strategy if multi_worker and not parameter_server else None))
        elif config.eval_config.eval_interval_steps > 0 and multi_worker:
            logger.warning("eval_interval_steps is ignored in a multi-worker run: the chief "
                           "evaluates once training ends. For evaluations during training (a "
                           "learning curve, the BEST exporter, early stopping) add an evaluator "
                           "task: python -m easyrank.launch --evaluator, or \"evaluator\" in "
                           "TF_CONFIG (docs/distributed.md).")
        elif config.eval_config.eval_interval_steps > 0:
            callbacks.append(PeriodicEvaluator(
                config.eval_config.eval_interval_steps,
                lambda: evaluator.evaluate_model(model, eval_data(), config,
                                                  config.eval_config.num_eval_steps),
                on_eval))
        if parameter_server:
            _fit_in_chunks(model, dataset, steps_per_epoch, callbacks, min(
                train.save_checkpoints_steps, train.log_step_count_steps, steps_per_epoch))
        else:
            counter = StepCounter()
            try:
                model.fit(dataset, epochs=1, steps_per_epoch=steps_per_epoch, verbose=0,
                          callbacks=callbacks + [counter, FirstStepMarker(phases)])
            except ValueError as e:
                if "Empty logs" not in str(e):
                    raise
            if counter.steps is None and step == 0:  # fit ran no step: the data had no (good) rows
                raise DataError(f"the training data {', '.join(config.train_input_path)} has no rows"
                                + (" left after skipping bad rows" if config.data_config.skip_bad_rows
                                   else "") + ": nothing to train on.")
            if counter.steps is None:
                logger.info("The training data is used up at step %d: nothing left to train.", step)
                model.optimizer.iterations.assign(step)  # fit counted its empty attempt as a step
            if steps_per_epoch is None and counter.steps is not None:
                # tf_keras counts one optimizer step too many when a dataset of unknown
                # length runs out; the step count must equal the batches trained on.
                model.optimizer.iterations.assign(step + counter.steps)
        if train_writer is not None:
            train_writer.close()  # flushed now: the train CLI ends without finalizers (console.run)
    phases.mark("training")
    step = global_step(model)
    # The final step, always, but only after training: in a multi-worker run every worker
    # must take the same decision (a save may all-reduce).
    trained = remaining is None or remaining > 0
    if trained and manager.latest_checkpoint != os.path.join(checkpoint_dir, f"ckpt-{step}"):
        manager.save(checkpoint_number=step, check_interval=False)
    if not chief:
        strategies.cleanup_write_dir(checkpoint_dir, model_dir)
        logger.info("Training done at step %d; the %s evaluates and exports.", step,
                    "evaluator" if sidecar else "chief")
        return None
    if sidecar:
        stop_file.write_json(os.path.join(model_dir, stop_file.DONE_FILE), {"global_step": step})
        logger.info("Training done at step %d; the evaluator task evaluates and exports.", step)
        return {"global_step": step}
    if multi_worker or train.mixed_precision not in ("", "float32"):
        # Evaluate and export a float32 one-device copy: no collectives, no remote variables.
        model = single_device_model(config, manager.latest_checkpoint)
    # The evaluation's inference function and first rows serve the export as well.
    predict, first_batch = inference_function(model), {}
    results = evaluator.evaluate_model(model, eval_data(), config, config.eval_config.num_eval_steps,
                                       first_batch=first_batch, predict=predict, require_learned=True)
    results["global_step"] = step
    report(step, results)
    eval_writer.close()
    if stopper is not None:
        results.update(stopper.summary())
    evaluator.write_eval_result(model_dir, results)
    phases.mark("evaluation")
    path = exporter.at_end(model, results, warmup_rows=first_batch, predict=predict)
    phases.mark("export")
    phases.write(model_dir)
    if path:
        logger.info("Exported the model to %s", path)
        commands = deployment.serve_commands(config.export_config.model_name, os.path.dirname(path))
        logger.info("Serve it with TF Serving: %s", commands[0])
        logger.info("or with Docker: %s", commands[1])
    return results


def _fit_in_chunks(model, dataset, steps, callbacks, chunk):
    """fit for exactly `steps` steps as "epochs" of `chunk` steps, callbacks at each end."""
    adapted = [EpochEndAdapter(c) for c in callbacks]
    chunk = max(chunk, 1)
    if steps // chunk:
        model.fit(dataset, epochs=steps // chunk, steps_per_epoch=chunk, verbose=0,
                  callbacks=adapted)
    if steps % chunk and not model.stop_training:
        model.fit(dataset, epochs=1, steps_per_epoch=steps % chunk, verbose=0, callbacks=adapted)


def _total_steps(config, step, steps_per_epoch):
    """The step training ends at, or None when it is not known without reading much data."""
    if config.train_config.num_steps:
        return config.train_config.num_steps
    if steps_per_epoch is not None:
        return step + steps_per_epoch
    files = list_files(config.train_input_path)
    if sum(file_size(f) for f in files) > COUNT_ROWS_MAX_BYTES:
        return None
    return epochs_steps(config)


def epochs_steps(config):
    """Steps of train_config.num_epochs over the training files (counts their rows)."""
    rows = count_rows(config.data_config, config.train_input_path)
    return -(-rows * config.train_config.num_epochs // config.data_config.batch_size)


def _train_input(config, strategy, step, remaining, skip=None):
    """(dataset or DatasetCreator, steps_per_epoch) for model.fit, skipping `skip` batches
    of the input (default: `step`, a run on one input)."""
    skip = step if skip is None else skip
    train = config.train_config

    def dataset_fn(input_context=None, num_epochs=train.num_epochs, seed=train.seed):
        # Each input pipeline feeds replicas_per_pipeline replicas per step.
        per_pipeline = 1 if input_context is None else max(
            input_context.num_replicas_in_sync // input_context.num_input_pipelines, 1)
        dataset = build_dataset(config.data_config, config.train_input_path, training=True,
                                num_epochs=num_epochs, seed=seed, input_context=input_context,
                                skip_batches=skip * per_pipeline,
                                binary_labels=row_checks(config))
        return dataset.take(remaining * per_pipeline) if remaining else dataset

    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        # Workers read their shard without end (reshuffled after a restart); fit counts the steps.
        def ps_dataset_fn(input_context):
            return build_dataset(config.data_config, config.train_input_path, training=True,
                                 num_epochs=-1, seed=train.seed + step, input_context=input_context,
                                 binary_labels=row_checks(config))
        return tf_keras.utils.experimental.DatasetCreator(ps_dataset_fn), remaining
    if not strategies.is_multi_worker(strategy):
        # One machine: fit splits each global batch over the local replicas.
        if remaining is None and train.steps_per_execution > 1:
            # fit needs the step count to run several steps per call: count the rows.
            remaining = max(epochs_steps(config) - skip, 1)
        return dataset_fn(), remaining
    # Several workers: each reads its own shard (files, or rows when files are few).
    return strategy.distribute_datasets_from_function(dataset_fn), remaining


def _log_results(step, results):
    text = ", ".join(f"{k} = {v:.5f}" if isinstance(v, float) else f"{k} = {v}"
                     for k, v in sorted(results.items()))
    logger.info("Evaluation at step %d: %s", step, text)
