from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.state import (
    GPC_SETTLE,
    ConsentRecord,
    action_choices,
    choice_record,
    gpc_conflicts,
    gpc_record,
    gpc_transition,
    resolve,
    text_hash,
)
from tests.consent.sample import consent_record, sample_config

CFG = sample_config()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ALL = ("essential", "analytics", "personalization", "marketing")


def record(
    granted: tuple[str, ...] = (),
    denied: tuple[str, ...] = (),
    *,
    regime: str = "gdpr",
    age_days: float = 1,
    version: str = "2026-11-01",
    method: str = "banner",
    gpc: bool = False,
    override: bool = False,
) -> ConsentRecord:
    return consent_record(
        NOW - timedelta(days=age_days),
        granted,
        denied,
        policy_version=version,
        text_hash=text_hash("shown"),
        method=method,
        regime=regime,
        gpc=gpc,
        gpc_confirmed_override=override,
    )


def on(state_purposes: dict[str, bool] | object) -> set[str]:
    assert isinstance(state_purposes, dict)
    return {k for k, v in state_purposes.items() if v}


EVERYTHING = ("analytics", "personalization", "marketing")

# (name, regime, latest record, gpc, purposes on, source, choice owed, gpc honored)
CASES = [
    # --- gdpr: opt-in; only notice_only before a clear yes ---
    ("gdpr first visit", "gdpr", None, False, {"essential"}, "default", True, False),
    ("gdpr accept all", "gdpr", record(EVERYTHING), False, set(ALL), "banner", False, False),
    (
        "gdpr reject all",
        "gdpr",
        record((), EVERYTHING),
        False,
        {"essential"},
        "banner",
        False,
        False,
    ),
    (
        "gdpr partial",
        "gdpr",
        record(("analytics",), ("personalization", "marketing")),
        False,
        {"essential", "analytics"},
        "banner",
        False,
        False,
    ),
    (
        "gdpr purpose added since",
        "gdpr",
        record(("analytics",), ("marketing",)),
        False,
        {"essential", "analytics"},
        "banner",
        True,
        False,
    ),
    (
        "gdpr new policy version: grants lapse, choice owed",
        "gdpr",
        record(EVERYTHING, version="2025-01-01"),
        False,
        {"essential"},
        "default",
        True,
        False,
    ),
    (
        "gdpr choice older than 182 days",
        "gdpr",
        record(EVERYTHING, age_days=182),
        False,
        {"essential"},
        "default",
        True,
        False,
    ),
    (
        "gdpr choice just younger than the TTL",
        "gdpr",
        record(EVERYTHING, age_days=181.99),
        False,
        set(ALL),
        "banner",
        False,
        False,
    ),
    (
        "gdpr record made under another regime",
        "gdpr",
        record(EVERYTHING, regime="us-optout"),
        False,
        {"essential"},
        "default",
        True,
        False,
    ),
    # GDPR Art. 21(5): GPC objects to the advertising purpose even after a plain yes.
    (
        "gdpr accept all, GPC on",
        "gdpr",
        record(EVERYTHING),
        True,
        {"essential", "analytics", "personalization"},
        "gpc",
        False,
        True,
    ),
    (
        "gdpr accept all with confirmed override",
        "gdpr",
        record(EVERYTHING, gpc=True, override=True),
        True,
        set(ALL),
        "banner",
        False,
        False,
    ),
    ("gdpr first visit, GPC", "gdpr", None, True, {"essential"}, "default", True, True),
    # --- us-optout: on until opted out; never a banner ---
    ("us first visit", "us-optout", None, False, set(ALL), "default", False, False),
    (
        "us first visit, GPC",
        "us-optout",
        None,
        True,
        {"essential", "analytics", "personalization"},
        "gpc",
        False,
        True,
    ),
    (
        "us do-not-sell via preferences",
        "us-optout",
        record((), ("marketing",), regime="us-optout", method="preferences"),
        False,
        {"essential", "analytics", "personalization"},
        "preferences",
        False,
        False,
    ),
    (
        "us gpc record, signal gone: the opt-out stands",
        "us-optout",
        record((), ("marketing",), regime="us-optout", method="gpc", age_days=400),
        False,
        {"essential", "analytics", "personalization"},
        "gpc",
        False,
        False,
    ),
    (
        "us grant without confirmation loses to GPC",
        "us-optout",
        record(("marketing",), regime="us-optout", method="preferences", gpc=True),
        True,
        {"essential", "analytics", "personalization"},
        "gpc",
        False,
        True,
    ),
    # 11 CCR §7025(c)(3): a confirmed conflicting choice wins.
    (
        "us grant with confirmation beats GPC",
        "us-optout",
        record(("marketing",), regime="us-optout", method="preferences", gpc=True, override=True),
        True,
        set(ALL),
        "preferences",
        False,
        False,
    ),
    (
        "us old policy version still honours opt-out and needs no banner",
        "us-optout",
        record((), ("analytics",), regime="us-optout", version="old", age_days=900),
        False,
        {"essential", "personalization", "marketing"},
        "banner",
        False,
        False,
    ),
    # --- default: per purpose; personalization is opt_in, marketing opt_out but off ---
    (
        "default first visit",
        "default",
        None,
        False,
        {"essential", "analytics"},
        "default",
        True,
        False,
    ),
    (
        "default choice made",
        "default",
        record(("personalization", "marketing"), regime="default"),
        False,
        set(ALL),
        "banner",
        False,
        False,
    ),
    (
        "default refusal of an opt_out purpose",
        "default",
        record(("personalization",), ("analytics",), regime="default"),
        False,
        {"essential", "personalization"},
        "banner",
        False,
        False,
    ),
    (
        "unknown regime name: every purpose fails closed to opt_in",
        "br",
        None,
        False,
        {"essential"},
        "default",
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    ("regime", "latest", "gpc", "purposes_on", "source", "owed", "honored"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_resolve(
    regime: str,
    latest: ConsentRecord | None,
    gpc: bool,
    purposes_on: set[str],
    source: str,
    owed: bool,
    honored: bool,
) -> None:
    state = resolve(CFG, regime, latest, gpc, NOW, "CG-AAAAAAAAAAAAAAAA")
    assert list(state.purposes) == list(ALL)  # every purpose, config order
    assert on(dict(state.purposes)) == purposes_on
    assert state.source == source
    assert state.choice_owed is owed
    assert state.gpc_honored is honored
    assert state.granted == purposes_on


def test_json_matches_the_contract() -> None:
    latest = record(EVERYTHING, age_days=2)
    state = resolve(CFG, "gdpr", latest, False, NOW, "CG-AAAAAAAAAAAAAAAA")
    assert state.to_json() == {
        "regime": "gdpr",
        "policy_version": "2026-11-01",
        "purposes": dict.fromkeys(ALL, True),
        "source": "banner",
        "expires_at": "2027-05-19T12:00:00Z",  # 182 days after the choice on 2026-11-18
        "subject_ref": "CG-AAAAAAAAAAAAAAAA",
    }
    before = resolve(CFG, "gdpr", None, False, NOW, None).to_json()
    assert before["subject_ref"] is None and before["expires_at"] is None
    us = resolve(CFG, "us-optout", record((), ("marketing",), regime="us-optout"), False, NOW, None)
    assert us.expires_at is None  # an opt-out does not expire
    assert us.reask_after == NOW - timedelta(days=1) + timedelta(days=365)
    assert resolve(CFG, "us-optout", None, False, NOW, None).reask_after is None


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        resolve(CFG, "gdpr", None, False, datetime(2026, 1, 1), None)
    with pytest.raises(ValueError):
        replace(record(), ts=datetime(2026, 1, 1))


def test_record_shape_checks() -> None:
    with pytest.raises(ValueError):
        record(("analytics",), ("analytics",))
    with pytest.raises(ValueError):
        record(method="cookie-wall")


# --- explicit choices -------------------------------------------------------------------------


def test_choice_record_from_banner_actions() -> None:
    accept = action_choices(CFG, "gdpr", "accept_all")
    assert accept == dict.fromkeys(EVERYTHING, True)  # notice_only purposes are no choice
    rec = choice_record(
        CFG,
        "gdpr",
        None,
        accept,
        method="banner",
        shown_text_hash=text_hash("t"),
        language="ar",
        gpc=False,
        now=NOW,
    )
    assert rec.granted == set(EVERYTHING) and rec.denied == frozenset()
    assert (rec.policy_version, rec.regime, rec.language, rec.ts) == (
        "2026-11-01",
        "gdpr",
        "ar",
        NOW,
    )
    assert resolve(CFG, "gdpr", rec, False, NOW, None).choice_owed is False
    reject = choice_record(
        CFG,
        "gdpr",
        rec,
        action_choices(CFG, "gdpr", "reject_all"),
        method="preferences",
        shown_text_hash="h",
        language="en",
        gpc=False,
        now=NOW,
    )
    # Withdrawing is as easy as giving: one action, everything off.
    assert reject.granted == frozenset() and reject.denied == set(EVERYTHING)
    assert on(dict(resolve(CFG, "gdpr", reject, False, NOW, None).purposes)) == {"essential"}


def test_partial_choice_keeps_previous_decisions() -> None:
    latest = record(("analytics", "marketing"), ("personalization",))
    rec = choice_record(
        CFG,
        "gdpr",
        latest,
        {"marketing": False},
        method="api",
        shown_text_hash="h",
        language="en",
        gpc=False,
        now=NOW,
    )
    assert rec.granted == {"analytics"} and rec.denied == {"personalization", "marketing"}


def test_stale_grants_are_not_carried_but_refusals_are() -> None:
    stale = record(("analytics",), ("marketing",), version="old")
    rec = choice_record(
        CFG,
        "gdpr",
        stale,
        {"personalization": True},
        method="api",
        shown_text_hash="h",
        language="en",
        gpc=False,
        now=NOW,
    )
    assert rec.granted == {"personalization"} and rec.denied == {"marketing"}


@pytest.mark.parametrize(
    ("choices", "message"),
    [({"nope": True}, "unknown purpose"), ({"essential": False}, "cannot be refused")],
)
def test_bad_choices_are_refused(choices: dict[str, bool], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choice_record(
            CFG,
            "gdpr",
            None,
            choices,
            method="api",
            shown_text_hash="h",
            language="en",
            gpc=False,
            now=NOW,
        )


def test_granting_essential_is_harmless() -> None:
    rec = choice_record(
        CFG,
        "gdpr",
        None,
        {"essential": True},
        method="api",
        shown_text_hash="h",
        language="en",
        gpc=False,
        now=NOW,
    )
    assert rec.granted == frozenset() == rec.denied


def test_gpc_conflict_needs_confirmation() -> None:
    choices = {"analytics": True, "marketing": True}
    assert gpc_conflicts(CFG, choices, gpc=True) == {"marketing"}
    assert gpc_conflicts(CFG, choices, gpc=False) == frozenset()
    kw = dict(method="preferences", shown_text_hash="h", language="en", gpc=True, now=NOW)
    plain = choice_record(CFG, "us-optout", None, choices, **kw)  # type: ignore[arg-type]
    assert plain.gpc_confirmed_override is False
    assert resolve(CFG, "us-optout", plain, True, NOW, None).purposes["marketing"] is False
    confirmed = choice_record(
        CFG,
        "us-optout",
        None,
        choices,
        confirmed_gpc_override=True,
        **kw,  # type: ignore[arg-type]
    )
    assert confirmed.gpc_confirmed_override is True
    assert resolve(CFG, "us-optout", confirmed, True, NOW, None).purposes["marketing"] is True
    # A later unrelated change keeps the confirmation...
    later = choice_record(CFG, "us-optout", confirmed, {"analytics": False}, **kw)  # type: ignore[arg-type]
    assert later.gpc_confirmed_override is True
    # ...and a confirmation without a conflict is not recorded as one.
    none = choice_record(
        CFG,
        "us-optout",
        None,
        {"analytics": True},
        confirmed_gpc_override=True,
        **kw,  # type: ignore[arg-type]
    )
    assert none.gpc_confirmed_override is False


# --- GPC records ------------------------------------------------------------------------------


def gpc_at(on: bool, minutes_ago: float, method: str = "gpc") -> ConsentRecord:
    return replace(record(gpc=on, method=method), ts=NOW - timedelta(minutes=minutes_ago))


@pytest.mark.parametrize(
    ("latest", "gpc", "subject", "write"),
    [
        # GPC never creates a subject: honoured from the header, never written for no one.
        (None, False, False, False),
        (None, True, False, False),  # cookieless us-optout visitor with GPC
        (record(gpc=False), True, False, False),  # a stale cookie whose subject is gone
        (None, True, True, True),  # a subject without a record yet
        (None, False, True, False),
        (record(gpc=False), True, True, True),  # on: the opt-out is recorded at once
        (record(gpc=True), True, True, False),  # once per change, not per request
        (record(gpc=True), False, True, True),  # off, a day after the last record
        (record(gpc=False), False, True, False),
        # Off again within the settle window: not yet (a flip-flopping header costs one write).
        (gpc_at(True, 1), False, True, False),
        (gpc_at(True, 9.9), False, True, False),
        (gpc_at(True, 10), False, True, True),
        (gpc_at(True, 1, method="banner"), False, True, False),
        # On is never delayed, however recent the last record.
        (gpc_at(False, 0), True, True, True),
    ],
)
def test_gpc_transition(
    latest: ConsentRecord | None, gpc: bool, subject: bool, write: bool
) -> None:
    assert gpc_transition(latest, gpc, has_subject=subject, now=NOW) is write


def test_a_flip_flopping_signal_writes_once_per_window() -> None:
    latest: ConsentRecord | None = record(gpc=False, method="api")
    writes = 0
    for i in range(200):
        now = NOW + timedelta(seconds=i)
        gpc = i % 2 == 0
        if gpc_transition(latest, gpc, has_subject=True, now=now):
            writes += 1
            latest = gpc_record(CFG, "us-optout", latest, gpc, language="en", now=now)
    assert writes == 1
    assert GPC_SETTLE == timedelta(minutes=10)


def test_gpc_record_round_trip() -> None:
    first = gpc_record(CFG, "us-optout", None, True, language="en", now=NOW)
    assert first.method == "gpc" and first.gpc is True
    assert first.denied == {"marketing"} and first.text_hash == text_hash("Sec-GPC: 1")
    assert not gpc_transition(first, True, has_subject=True, now=NOW)
    state = resolve(CFG, "us-optout", first, True, NOW, None)
    assert state.gpc_honored and state.source == "gpc"
    # The signal goes away: recorded once, and the opt-out stays.
    off = gpc_record(CFG, "us-optout", first, False, language="en", now=NOW + timedelta(days=1))
    assert off.gpc is False and off.denied == {"marketing"}
    assert resolve(CFG, "us-optout", off, False, NOW, None).purposes["marketing"] is False


def test_gpc_record_ends_an_override_and_keeps_the_choice_time() -> None:
    chosen = record(EVERYTHING, age_days=100, gpc=True, override=True)
    off = gpc_record(CFG, "gdpr", chosen, False, language="en", now=NOW)
    assert off.granted == set(EVERYTHING)
    on_again = gpc_record(CFG, "gdpr", off, True, language="en", now=NOW + timedelta(days=1))
    assert on_again.gpc_confirmed_override is False and "marketing" in on_again.denied
    # A GPC record never extends how long a consent lasts.
    assert on_again.choice_time == chosen.ts
    expired = resolve(CFG, "gdpr", on_again, True, NOW + timedelta(days=83), None)
    assert expired.choice_owed and expired.purposes["analytics"] is False


@given(
    regime=st.sampled_from(["gdpr", "us-optout", "default", "elsewhere"]),
    granted=st.sets(st.sampled_from(EVERYTHING)),
    denied=st.sets(st.sampled_from(EVERYTHING)),
    gpc=st.booleans(),
    override=st.booleans(),
    age=st.integers(0, 1000),
    record_regime=st.sampled_from(["gdpr", "us-optout", "default"]),
)
def test_invariants(
    regime: str,
    granted: set[str],
    denied: set[str],
    gpc: bool,
    override: bool,
    age: int,
    record_regime: str,
) -> None:
    latest = record(
        tuple(granted - denied),
        tuple(denied),
        regime=record_regime,
        age_days=age,
        gpc=gpc,
        override=override,
    )
    state = resolve(CFG, regime, latest, gpc, NOW, None)
    assert state.purposes["essential"] is True  # notice_only: always on
    for pid in denied:
        assert state.purposes[pid] is False  # a refusal always stands
    if gpc and not override:
        assert state.purposes["marketing"] is False and state.gpc_honored
    if regime == "us-optout":
        assert state.choice_owed is False  # never a banner under us-optout
    if regime == "gdpr" and (record_regime != "gdpr" or age >= 182):
        assert state.choice_owed and state.granted == {"essential"}
