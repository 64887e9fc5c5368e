"""A small consent configuration shared by the consent and policies tests, and a builder for
the consent records they store."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from consent.state import ConsentRecord
from policies.models import Config


def text(word: str) -> dict[str, str]:
    return {"en": word, "ar": f"{word} (ar)", "th": f"{word} (th)"}


PURPOSES: list[dict[str, Any]] = [
    {
        "id": "essential",
        "names": text("Essential"),
        "descriptions": text("Keeps the shop working"),
        "legal_basis": "contract",
        "data_uses": ["essential.service"],
        "mechanism": "notice_only",
    },
    {
        "id": "analytics",
        "names": text("Analytics"),
        "descriptions": text("Counts visits"),
        "legal_basis": "consent",
        "data_uses": ["analytics.reporting"],
        "cookies": ["_ga", "_ga_*"],
        "hosts": ["www.googletagmanager.com", "*.google-analytics.com"],
        "mechanism": {"gdpr": "opt_in", "us-optout": "opt_out", "default": "opt_out"},
    },
    {
        "id": "personalization",
        "names": text("Personalization"),
        "descriptions": text("Tailors the shop"),
        "legal_basis": "consent",
        "data_uses": ["personalize.content.profiling"],
        "mechanism": {"gdpr": "opt_in", "us-optout": "opt_out", "default": "opt_in"},
    },
    {
        "id": "marketing",
        "names": text("Marketing"),
        "descriptions": text("Ads elsewhere"),
        "legal_basis": "consent",
        "data_uses": ["marketing.advertising.third_party.targeted"],
        "cookies": ["_fbp", "IDE"],
        "hosts": ["connect.facebook.net", "*.doubleclick.net"],
        "mechanism": {"gdpr": "opt_in", "us-optout": "opt_out", "default": "opt_out"},
        "default": {"default": False},
    },
]


def raw(**sections: Any) -> dict[str, Any]:
    """The config as YAML would give it; keyword arguments replace whole sections."""
    data: dict[str, Any] = {
        "gateway": {"upstream": "http://127.0.0.1:9"},
        "policy": {"version": "2026-11-01"},
        "purposes": copy.deepcopy(PURPOSES),
    }
    data.update(sections)
    return data


def sample_config(**sections: Any) -> Config:
    """A validated `Config` with the sample purposes and the built-in regimes."""
    return Config.model_validate(raw(**sections))


def consent_record(
    ts: datetime, granted: Iterable[str] = (), denied: Iterable[str] = (), **fields: Any
) -> ConsentRecord:
    """A choice made at `ts`: a gdpr banner choice in English under policy "1", unless
    `fields` (any other `ConsentRecord` field) say otherwise."""
    values: dict[str, Any] = {
        "policy_version": "1",
        "text_hash": "0" * 64,
        "language": "en",
        "method": "banner",
        "regime": "gdpr",
        **fields,
    }
    return ConsentRecord(ts=ts, granted=frozenset(granted), denied=frozenset(denied), **values)
