"""Personalization: rules, geo, weather and recommendations (pure core, I/O shells)."""
