"""Feature columns (raw input -> embedding) and feature groups."""

from easyrank.features.builder import build_columns
from easyrank.features.groups import FeatureGroups, GroupOutput, SequenceInput, shapes_of

__all__ = ["build_columns", "FeatureGroups", "GroupOutput", "SequenceInput", "shapes_of"]
