"""The demo's back-dated history: about 30 days of consent choices before the first start.

With one day of data the console's statistics are lone points; an officer trying the demo
should see what a month looks like: opt-in rates per purpose and regime moving from day to
day, refusals, GPC opt-outs and withdrawals. ``plan`` (pure, seeded) decides who chooses
what and when; ``write_history`` writes it once, into a store that has no consent records
yet, before the gateway starts, through the gateway's own write path: ``ConsentStore``
(subject, back-dated record made by ``consent.state.choice_record`` / ``gpc_record``) and
``AuditLog`` (an entry per choice, its ``ts`` the choice's time through the log's clock),
so the chain is an ordinary chain and ``audit verify`` checks it like any other.

Marked as demo data, so an officer can tell: every entry's actor is ``demo`` (not
``visitor``) with the public detail ``"demo": true``, and ``cg_meta`` holds ``demo.history``
(days, choices, subjects), which the console's statistics page states above the charts.
Only the shape is seeded: subject ids, references and keys stay random (never seed crypto).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from consent.banner import BannerView, text_hash
from consent.pseudonyms import new_visitor_id
from consent.state import ConsentRecord, choice_record, gpc_record, resolve
from policies.models import Config

SEED = 20261205
DAYS = 30
ACTOR = "demo"
META_KEY = "demo.history"
PUBLIC = {"demo": True}

Kind = Literal["accept_all", "reject_all", "custom", "withdraw", "gpc"]

# Who the demo shop's visitors are and how they choose, per regime: (share of visitors,
# {kind: weight}). Opt-in regimes see refusals; opt-out regimes see GPC; the default regime
# (Bangkok, Riyadh) mostly accepts. Rough, plausible proportions, not measurements.
VISITORS: dict[str, tuple[float, dict[Kind, float]]] = {
    "gdpr": (0.5, {"accept_all": 0.42, "reject_all": 0.36, "custom": 0.22}),
    "us-optout": (0.3, {"accept_all": 0.5, "reject_all": 0.12, "custom": 0.13, "gpc": 0.25}),
    "default": (0.2, {"accept_all": 0.62, "reject_all": 0.18, "custom": 0.2}),
}
LANGUAGES = {"gdpr": ("en",), "us-optout": ("en",), "default": ("th", "ar", "en")}
# In "custom", how likely each purpose is switched on (unknown purposes: even odds).
CUSTOM_ON = {"analytics": 0.7, "personalization": 0.5, "marketing": 0.2}
WITHDRAW_SHARE = 0.12  # visitors who come back within a week and take something back


@dataclass(frozen=True)
class PlannedChoice:
    """One generated choice: visitor `visitor` (an index: same index, same person) at `ts`."""

    ts: datetime
    visitor: int
    regime: str
    language: str
    kind: Kind
    choices: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class HistorySummary:
    """What was generated (stored as ``cg_meta`` ``demo.history``, shown by the console)."""

    first_day: str
    last_day: str
    choices: int
    subjects: int


def switchable(config: Config, regime: str) -> list[str]:
    """Purposes a visitor can turn on and off under `regime` (not notice-only)."""
    return [p.id for p in config.purposes if p.mechanism_in(regime) != "notice_only"]


def plan(config: Config, today: date, *, days: int = DAYS, seed: int = SEED) -> list[PlannedChoice]:
    """The choices of the `days` days before `today` (UTC), oldest first; deterministic."""
    rng = random.Random(seed)
    regimes = [r for r in VISITORS if r in config.regimes]
    weights = [VISITORS[r][0] for r in regimes]
    planned: list[PlannedChoice] = []
    visitor = 0
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        # Busier at weekends, a little busier as the month goes on, never the same twice.
        count = 12 + (6 if day.weekday() >= 5 else 0) + (days - back) // 4 + rng.randint(-4, 4)
        for _ in range(count):
            regime = rng.choices(regimes, weights)[0]
            kinds = VISITORS[regime][1]
            kind = rng.choices(list(kinds), list(kinds.values()))[0]
            # A clearer banner text from mid-month: a few more accept than before.
            if kind == "reject_all" and back < days // 2 and rng.random() < 0.25:
                kind = "accept_all"
            ts = _at(day, rng)
            purposes = switchable(config, regime)
            choices = {
                "accept_all": dict.fromkeys(purposes, True),
                "reject_all": dict.fromkeys(purposes, False),
                "custom": {p: rng.random() < CUSTOM_ON.get(p, 0.5) for p in purposes},
                "gpc": {},
            }[kind]
            language = rng.choice(LANGUAGES[regime])
            planned.append(PlannedChoice(ts, visitor, regime, language, kind, choices))
            granted = [p for p, on in choices.items() if on] or (purposes if kind == "gpc" else [])
            later = ts + timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 12))
            if granted and rng.random() < WITHDRAW_SHARE and later.date() < today:
                taken = rng.sample(granted, rng.randint(1, len(granted)))
                withdraw = dict.fromkeys(taken, False)
                planned.append(
                    PlannedChoice(later, visitor, regime, language, "withdraw", withdraw)
                )
            visitor += 1
    planned.sort(key=lambda c: (c.ts, c.visitor))
    return planned


def _at(day: date, rng: random.Random) -> datetime:
    # Shoppers' hours: 07:00-23:59 UTC, to the microsecond (the envelope keeps six digits).
    seconds = rng.randint(7 * 3600, 24 * 3600 - 1)
    moment = datetime.combine(day, time(), UTC) + timedelta(seconds=seconds)
    return moment.replace(microsecond=rng.randint(0, 999_999))


def record_for(
    config: Config, choice: PlannedChoice, latest: ConsentRecord | None
) -> ConsentRecord:
    """The consent record the gateway would store for `choice` (same functions, same proof:
    the hash of the banner text in the visitor's language)."""
    if choice.kind == "gpc":
        return gpc_record(
            config, choice.regime, latest, True, language=choice.language, now=choice.ts
        )
    state = resolve(config, choice.regime, latest, False, choice.ts, None)
    from gateway.proxy.exchange import purpose_views

    shown = BannerView(
        language=choice.language,
        policy_version=config.policy.version,
        purposes=purpose_views(config, state, choice.language),
        action=f"{config.gateway.prefix}/consent",
        return_to="/",
        csrf="",
    )
    return choice_record(
        config,
        choice.regime,
        latest,
        choice.choices,
        method="preferences" if choice.kind == "withdraw" else "banner",
        shown_text_hash=text_hash(shown),
        language=choice.language,
        gpc=False,
        now=choice.ts,
    )


class _Clock:
    """The audit log's clock: the planned time while history is written, then real time."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else datetime.now(UTC)


async def write_history(
    config: Config,
    master_key: bytes,
    today: date,
    *,
    days: int = DAYS,
    seed: int = SEED,
    rand: Callable[[int], bytes] = os.urandom,
) -> HistorySummary | None:
    """Write the planned history into the config's store; None (nothing written) when the
    store already holds consent records or a history (a second start, or a store in use)."""
    from audit.configured import build_audit_log
    from consent.audit_entry import consent_action, consent_details
    from consent.store import ConsentStore, Subject, cg_consent_records
    from gateway.wiring import components
    from policies.purposes import gpc_purposes
    from storage.store import open_store

    store = await open_store(config.storage.url, components=components())
    try:
        if await store.get_meta(META_KEY) is not None:
            return None
        async with store.engine.connect() as conn:
            if (await conn.execute(cg_consent_records.select().limit(1))).first() is not None:
                return None
        consent = await ConsentStore.open(store, master_key, rand)
        planned = plan(config, today, days=days, seed=seed)
        gpc_refused = gpc_purposes(config)
        subjects: dict[int, Subject] = {}
        latest: dict[int, ConsentRecord] = {}
        entries: list[tuple[datetime, str, str, dict[str, object]]] = []
        # The records first, then their entries: the audit writer and the consent writes
        # would otherwise take turns at SQLite's one write lock for every choice.
        for choice in planned:
            subject = subjects.get(choice.visitor)
            if subject is None:
                subject = await consent.create_subject(new_visitor_id(rand), choice.ts)
                subjects[choice.visitor] = subject
            previous = latest.get(choice.visitor)
            record = record_for(config, choice, previous)
            await consent.append(subject.id, record)
            action = consent_action(previous, record, gpc_refused)
            entries.append((choice.ts, action, subject.id, consent_details(record)))
            latest[choice.visitor] = record
        clock = _Clock()
        # One checkpoint per 100 entries, not one per batch: back-dated time jumps past
        # `checkpoint_every_seconds` between batches (and close() signs the tail).
        settings = config.audit.model_copy(
            update={"checkpoint_every_entries": 100, "checkpoint_every_seconds": 86_400.0}
        )
        log = build_audit_log(store, settings, master_key, clock=clock)
        await log.start()
        try:
            for ts, action, subject_id, details in entries:
                clock.at = ts
                # Queued, not durable one by one: the writer commits them in batches, and
                # close() below waits until every entry is in.
                await log.append(ACTOR, action, subject_id, details, public=PUBLIC)
            clock.at = None
        finally:
            await log.close()
        summary = HistorySummary(
            first_day=(today - timedelta(days=days)).isoformat(),
            last_day=(today - timedelta(days=1)).isoformat(),
            choices=len(planned),
            subjects=len(subjects),
        )
        await store.set_meta(META_KEY, json.dumps(asdict(summary)))
        return summary
    finally:
        await store.close()


def read_summary(value: str | None) -> HistorySummary | None:
    """The stored ``demo.history`` value, or None (absent or unreadable)."""
    if value is None:
        return None
    try:
        return HistorySummary(**json.loads(value))
    except (ValueError, TypeError):
        return None
