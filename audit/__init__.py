"""Audit: the tamper-evident log, checkpoints and data-subject requests."""
