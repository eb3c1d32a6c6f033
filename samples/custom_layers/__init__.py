"""Example user package for custom blocks (docs/custom_layers.md)."""
