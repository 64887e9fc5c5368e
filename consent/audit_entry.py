"""A consent record as its audit entry: the action (`consent.` + its kind) and the sealed details.

GDPR Art. 7(1): the details are the proof of what the visitor was shown and chose.
"""

from __future__ import annotations

from consent.choice_kind import choice_kind
from consent.state import ConsentRecord


def consent_details(record: ConsentRecord) -> dict[str, object]:
    """A consent record's proof as the audit entry's sealed (personal) details."""
    return {
        "policy_version": record.policy_version,
        "text_hash": record.text_hash,
        "language": record.language,
        "method": record.method,
        "regime": record.regime,
        "granted": sorted(record.granted),
        "denied": sorted(record.denied),
        "gpc": record.gpc,
    }


def consent_action(
    previous: ConsentRecord | None, record: ConsentRecord, gpc_refused: frozenset[str]
) -> str:
    """The audit action of a consent record: `consent.` + its kind (`consent.choice_kind`):
    gpc, given, refused, withdrawn or changed."""
    return f"consent.{choice_kind(previous, record, gpc_refused)}"
