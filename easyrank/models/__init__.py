"""Ranking models: the config compiler, feature groups -> backbone -> task heads."""

from easyrank.models.compiler import build_model, compile_model
from easyrank.models.rank_model import RankModel

__all__ = ["RankModel", "build_model", "compile_model"]
