"""Serving: signatures, atomic versioned export, exporters, warmup, deployment files, checks."""
