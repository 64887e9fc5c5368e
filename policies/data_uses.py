"""The fideslang data-use taxonomy: which `data_uses` keys exist (`fideslang_data_uses.txt`).

A purpose states why data is processed in fideslang's words so that a privacy team can map it
to their Fides records; a key outside the taxonomy (a typo such as `analytics.reportng`) would
silently match nothing in the GPC and consent mapping, so the config refuses it and suggests
the nearest keys.
"""

from __future__ import annotations

import difflib
from importlib.resources import files

_SOURCE = "fideslang_data_uses.txt"


def _read_keys() -> frozenset[str]:
    text = files("policies").joinpath(_SOURCE).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


DATA_USES: frozenset[str] = _read_keys()


def unknown_data_use(key: str) -> str | None:
    """None when `key` is a fideslang data use; otherwise why not, with the closest keys."""
    if key in DATA_USES:
        return None
    message = f"{key!r} is not a data use of the fideslang taxonomy"
    close = difflib.get_close_matches(key, sorted(DATA_USES), n=2, cutoff=0.6)
    if close:
        return message + "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return message
