"""Ranking models: feature groups -> backbone -> task heads."""

from easyrank.models.rank_model import RankModel, build_model

__all__ = ["RankModel", "build_model"]
