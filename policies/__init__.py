"""Policies: the typed configuration, its validation and the privacy regimes."""
