"""What a consent record did (consent/choice_kind.py): the contract's audit-action words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.choice_kind import Kind, choice_kind, effective_grants, held_by_gpc, kind_of
from consent.state import ConsentRecord, Method
from tests.consent.sample import consent_record

GPC_REFUSED = frozenset({"marketing"})
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def record(
    granted: set[str],
    denied: set[str] = frozenset(),  # type: ignore[assignment]
    *,
    method: Method = "banner",
    gpc: bool = False,
    override: bool = False,
) -> ConsentRecord:
    return consent_record(
        NOW,
        granted,
        denied,
        method=method,
        regime="us-optout",
        gpc=gpc,
        gpc_confirmed_override=override,
    )


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (set(), set(), "refused"),  # a first "Reject all": nothing was ever granted
        (set(), {"analytics"}, "given"),
        ({"analytics"}, {"analytics", "marketing"}, "given"),  # a widening
        ({"analytics"}, set(), "withdrawn"),  # GDPR Art. 7(3)
        ({"analytics", "marketing"}, {"analytics"}, "withdrawn"),
        ({"analytics"}, {"marketing"}, "changed"),  # takes one back, grants another
        ({"analytics"}, {"analytics"}, "changed"),  # saved again unchanged
    ],
)
def test_kind_of(before: set[str], after: set[str], kind: Kind) -> None:
    assert kind_of(frozenset(before), frozenset(after)) == kind


def test_a_first_reject_all_is_refused_and_a_second_too() -> None:
    first = record(set(), {"analytics", "marketing"})
    assert choice_kind(None, first, GPC_REFUSED) == "refused"
    assert choice_kind(first, record(set(), {"analytics"}), GPC_REFUSED) == "refused"


def test_taking_back_a_grant_is_withdrawn() -> None:
    given = record({"analytics"})
    assert choice_kind(None, given, GPC_REFUSED) == "given"
    assert choice_kind(given, record(set(), {"analytics"}), GPC_REFUSED) == "withdrawn"


def test_a_gpc_record_is_gpc_whatever_it_grants() -> None:
    assert choice_kind(None, record(set(), method="gpc", gpc=True), GPC_REFUSED) == "gpc"


def test_a_grant_gpc_held_back_granted_nothing() -> None:
    # 11 CCR §7025(c)(3): without the visitor's confirmation the GPC opt-out wins.
    held = record({"marketing"}, {"analytics"}, gpc=True)
    assert held_by_gpc(held, GPC_REFUSED) == {"marketing"}
    assert effective_grants(held, GPC_REFUSED) == frozenset()
    assert choice_kind(None, held, GPC_REFUSED) == "refused"
    confirmed = record({"marketing"}, gpc=True, override=True)
    assert held_by_gpc(confirmed, GPC_REFUSED) == frozenset()
    assert choice_kind(held, confirmed, GPC_REFUSED) == "given"
    # Without GPC on the record, nothing is held back.
    assert held_by_gpc(record({"marketing"}), GPC_REFUSED) == frozenset()
