"""The starter config `consentgate init` writes: commented YAML with the common trackers.

The text is `config.yaml.tmpl` (a `string.Template`); the hosts and cookie patterns of each
purpose come from the tracker table `trackers.yaml`, written one vendor at a time under a
comment naming it, so an operator sees why each entry is there. Pure: no file is written here.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from importlib.resources import files

import yaml

# The purposes of the template whose hosts and cookies come from the tracker table.
TRACKED_PURPOSES = ("analytics", "marketing", "personalization")
_INDENT = " " * 6
# Where the starter config expects the city database, relative to the config file.
GEO_DATABASE = "GeoLite2-City.mmdb"  # list items under `hosts:` / `cookies:` of a purpose


@dataclass(frozen=True)
class Tracker:
    """One vendor's tag: the hosts it loads from and the cookies it sets."""

    name: str
    hosts: tuple[str, ...]
    cookies: tuple[str, ...]


def trackers() -> dict[str, tuple[Tracker, ...]]:
    """The tracker table, purpose id → vendors (in the order the table lists them)."""
    data = yaml.safe_load(_read("trackers.yaml"))
    return {
        purpose: tuple(
            Tracker(t["name"], tuple(t.get("hosts") or ()), tuple(t.get("cookies") or ()))
            for t in data.get(purpose) or ()
        )
        for purpose in TRACKED_PURPOSES
    }


def render_starter_config(upstream: str) -> str:
    """The starter `policies.yaml` text for a shop at `upstream` (an http(s) origin)."""
    table = trackers()
    values = {"upstream": _scalar(upstream), "geo_database": _scalar(GEO_DATABASE)}
    for purpose in TRACKED_PURPOSES:
        values[f"{purpose}_hosts"] = _items(table[purpose], "hosts")
        values[f"{purpose}_cookies"] = _items(table[purpose], "cookies")
    return string.Template(_read("config.yaml.tmpl")).substitute(values)


def _items(vendors: tuple[Tracker, ...], kind: str) -> str:
    lines: list[str] = []
    for vendor in vendors:
        entries: tuple[str, ...] = getattr(vendor, kind)
        if entries:
            lines.append(f"{_INDENT}# {vendor.name}")
            lines.extend(f"{_INDENT}- {_scalar(entry)}" for entry in entries)
    # An empty block sequence would read as null: say "none" explicitly.
    return "\n".join(lines) if lines else f"{_INDENT}[]"


def _scalar(value: str) -> str:
    """`value` as a YAML scalar: plain when YAML reads it back unchanged, else double-quoted
    (JSON strings are valid YAML), so `*.hotjar.com` is not taken for an alias."""
    try:
        plain_ok = yaml.safe_load(value) == value and "#" not in value
    except yaml.YAMLError:
        plain_ok = False
    return value if plain_ok else json.dumps(value)


def _read(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")
