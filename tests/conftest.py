"""Shared fixtures, loaded for every test."""

import os

from hypothesis import settings

pytest_plugins = [
    "tests.environment",
    "tests.stores",
    "tests.figures",
    "tests.browser",
    "tests.demo_world",
]

# Hypothesis profiles (STYLE.md §3): `fast` by default, `deep` with HYPOTHESIS_PROFILE=deep.
# deadline=None: no timed assertions in tests.
settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile("deep", max_examples=10_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
