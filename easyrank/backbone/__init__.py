"""The backbone: block registry, builders, the compiler and the block graph."""

from easyrank.backbone import (
    bst_builders,  # noqa: F401
    builders,  # noqa: F401  (registers the blocks)
    ctr_builders,  # noqa: F401
    custom_builders,  # noqa: F401
    interaction_builders,  # noqa: F401
    multitask_builders,  # noqa: F401
    sequence_builders,  # noqa: F401
)
from easyrank.backbone.compiler import BlockOutputs, compile_backbone, compile_input
from easyrank.backbone.graph import Backbone, BlockNode, InputRef, gather
from easyrank.backbone.registry import BuildContext, register_block, registered

__all__ = ["Backbone", "BlockNode", "BlockOutputs", "BuildContext", "InputRef", "compile_backbone",
           "compile_input", "gather", "register_block", "registered"]
