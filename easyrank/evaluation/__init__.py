"""Evaluation: metrics (AUC, GAUC, ...) and the evaluation pass over a dataset."""

from easyrank.evaluation.evaluator import evaluate_config, evaluate_model, write_eval_result

__all__ = ["evaluate_config", "evaluate_model", "write_eval_result"]
