"""The backbone: block registry, builders and the block graph."""

from easyrank.backbone import (
    builders,  # noqa: F401  (registers the blocks)
    interaction_builders,  # noqa: F401
    multitask_builders,  # noqa: F401
    sequence_builders,  # noqa: F401
)
from easyrank.backbone.graph import Backbone, resolve_input
from easyrank.backbone.registry import BuildContext, register_block, registered

__all__ = ["Backbone", "BuildContext", "register_block", "registered", "resolve_input"]
