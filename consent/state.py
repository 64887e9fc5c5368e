"""What a visitor has agreed to right now, and whether we owe them a choice.

Records are append-only snapshots: each holds the full granted/denied sets after that choice,
so the latest record plus the live GPC signal decide the state. Rules, by mechanism (a purpose
names one per regime, so regimes need no special-casing here):
- notice_only: always on (strictly necessary; shown, never switchable).
- opt_in: off until a *valid* record grants it: same policy version, made under this regime,
  younger than `policy.gdpr_choice_ttl_days`. Otherwise a choice is owed (the banner).
  GDPR Art. 4(11), 7: consent must be a clear affirmative act for the text that was shown.
- opt_out: on (or the purpose's per-regime `default`) until a record denies it; never owes a
  banner. Cal. Civ. Code §1798.135(c)(4): an opt-out is not re-asked for 12 months
  (`reask_after`).
- Any record's denial stands even when its grants no longer count (a "no" never expires
  into a "yes").
- GPC (consent.signals) turns off every purpose overlapping `policy.gpc_data_uses`, in every
  regime (GDPR Art. 21(5) lets people object "by automated means using technical
  specifications"), unless the latest record granted it *with* `gpc_confirmed_override`:
  11 CCR §7025(c)(3), a conflicting explicit choice wins only once the visitor confirms it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from policies.models import Config, Purpose
from policies.purposes import gpc_purposes

Method = Literal["banner", "preferences", "gpc", "api"]
Source = Literal["default", "banner", "preferences", "gpc", "api"]
Action = Literal["accept_all", "reject_all"]
METHODS: frozenset[str] = frozenset({"banner", "preferences", "gpc", "api"})

# What a GPC record's text hash covers: the signal itself is the "text" the visitor sent.
GPC_ON_TEXT = "Sec-GPC: 1"
GPC_OFF_TEXT = "Sec-GPC absent"
# How long a GPC or explicit record stands before a return of the signal to off is recorded:
# long enough that toggling the browser setting (or replaying the header) costs one write per
# window, short enough that the history shows a real change within the visit.
GPC_SETTLE = timedelta(minutes=10)


def text_hash(rendered_text: str) -> str:
    """SHA-256 (hex) of the exact text shown, UTF-8. GDPR Art. 7(1): proof of what was agreed."""
    return hashlib.sha256(rendered_text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ConsentRecord:
    """One choice, as stored (append-only, never overwritten)."""

    policy_version: str
    text_hash: str
    language: str
    method: Method
    ts: datetime
    regime: str
    granted: frozenset[str]
    denied: frozenset[str]
    # The Sec-GPC signal when the record was made; a change writes a new `gpc` record.
    gpc: bool = False
    # The visitor confirmed that their grants beat their browser's GPC opt-out.
    gpc_confirmed_override: bool = False
    # When the explicit choice behind `granted` was made; a `gpc` record carries it over so
    # that a signal change never extends how long a consent lasts. None means `ts`.
    chosen_at: datetime | None = None

    @property
    def choice_time(self) -> datetime:
        """When the grants in this record were given (drives their expiry)."""
        return self.chosen_at or self.ts

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown consent method {self.method!r}")
        if self.ts.tzinfo is None:
            raise ValueError("record time must be timezone-aware")
        if self.granted & self.denied:
            raise ValueError(f"granted and denied overlap: {sorted(self.granted & self.denied)}")


@dataclass(frozen=True)
class ConsentState:
    """The resolved state; `to_json` is the contract's GET /_privacy/consent body."""

    regime: str
    policy_version: str
    purposes: Mapping[str, bool]  # every configured purpose, config order
    source: Source
    expires_at: datetime | None
    subject_ref: str | None
    choice_owed: bool  # inject the banner
    gpc_honored: bool  # GPC is on and nothing it refuses is on: "Opt-Out Request Honored"
    reask_after: datetime | None = None  # earliest time to ask an opted-out visitor again

    @property
    def granted(self) -> frozenset[str]:
        """Ids of the purposes that are on."""
        return frozenset(pid for pid, on in self.purposes.items() if on)

    def to_json(self) -> dict[str, object]:
        """The contract's JSON object (RFC 3339 UTC times)."""
        return {
            "regime": self.regime,
            "policy_version": self.policy_version,
            "purposes": dict(self.purposes),
            "source": self.source,
            "expires_at": _rfc3339(self.expires_at),
            "subject_ref": self.subject_ref,
        }


def _rfc3339(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return now


def _grants_valid(config: Config, regime: str, latest: ConsentRecord | None, now: datetime) -> bool:
    """Whether the record's grants still count for opt_in purposes."""
    if latest is None:
        return False
    ttl = timedelta(days=config.policy.gdpr_choice_ttl_days)
    return (
        latest.policy_version == config.policy.version
        and latest.regime == regime
        and now < latest.choice_time + ttl
    )


def resolve(
    config: Config,
    regime: str,
    latest: ConsentRecord | None,
    gpc: bool,
    now: datetime,
    subject_ref: str | None,
) -> ConsentState:
    """The visitor's consent state under `regime`, from their latest record and the live GPC
    signal (see the module docstring for the rules)."""
    now = _aware(now)
    fresh = _grants_valid(config, regime, latest, now)
    granted = latest.granted if latest is not None else frozenset()
    denied = latest.denied if latest is not None else frozenset()
    override = latest is not None and latest.gpc_confirmed_override
    refused_by_gpc = gpc_purposes(config) if gpc else frozenset()

    values: dict[str, bool] = {}
    owed = gpc_applied = has_opt_in = opted_out = False
    for p in config.purposes:
        mechanism = p.mechanism_in(regime)
        if mechanism == "notice_only":
            values[p.id] = True
            continue
        if p.id in denied:
            on = False  # a refusal always stands
            opted_out = opted_out or mechanism == "opt_out"
        elif mechanism == "opt_in":
            on = fresh and p.id in granted
        else:
            on = p.id in granted or p.default.get(regime, True)
        if mechanism == "opt_in":
            has_opt_in = True
            # Owed: no valid record, or a purpose added since (in neither set).
            owed = owed or not fresh or p.id not in granted | denied
        if on and p.id in refused_by_gpc and not (override and p.id in granted):
            on, gpc_applied = False, True
        values[p.id] = on

    source: Source
    if gpc_applied:
        source = "gpc"
    elif latest is not None and (fresh or not has_opt_in):
        source = latest.method
    else:
        source = "default"
    expires_at = None
    if latest is not None and fresh and has_opt_in:
        expires_at = latest.choice_time + timedelta(days=config.policy.gdpr_choice_ttl_days)
    reask_after = None
    if latest is not None and opted_out:
        reask_after = latest.ts + timedelta(days=config.policy.optout_reask_days)
    return ConsentState(
        regime=regime,
        policy_version=config.policy.version,
        purposes=values,
        source=source,
        expires_at=expires_at,
        subject_ref=subject_ref,
        choice_owed=owed,
        gpc_honored=gpc and not any(values[pid] for pid in refused_by_gpc),
        reask_after=reask_after,
    )


def _switchable(config: Config, regime: str) -> dict[str, Purpose]:
    return {p.id: p for p in config.purposes if p.mechanism_in(regime) != "notice_only"}


def action_choices(config: Config, regime: str, action: Action) -> dict[str, bool]:
    """The choices "Accept all" / "Reject all" stand for: every switchable purpose."""
    return {pid: action == "accept_all" for pid in _switchable(config, regime)}


def gpc_conflicts(config: Config, choices: Mapping[str, bool], gpc: bool) -> frozenset[str]:
    """Purposes the visitor is granting although GPC refuses them: ask to confirm first."""
    if not gpc:
        return frozenset()
    return frozenset(pid for pid, on in choices.items() if on) & gpc_purposes(config)


def _carried(
    config: Config, regime: str, latest: ConsentRecord | None, now: datetime
) -> tuple[frozenset[str], frozenset[str], bool]:
    """Grants, denials and override that a new record inherits from `latest`.

    Grants (and their GPC confirmation) carry only while they are still valid; denials always.
    """
    if latest is None:
        return frozenset(), frozenset(), False
    if _grants_valid(config, regime, latest, now):
        return latest.granted, latest.denied, latest.gpc_confirmed_override
    return frozenset(), latest.denied, False


def choice_record(
    config: Config,
    regime: str,
    latest: ConsentRecord | None,
    choices: Mapping[str, bool],
    *,
    method: Method,
    shown_text_hash: str,
    language: str,
    gpc: bool,
    now: datetime,
    confirmed_gpc_override: bool = False,
) -> ConsentRecord:
    """The record for an explicit choice (banner, preference center, API).

    `choices` may be partial; purposes it leaves out keep their previous decision. Raises
    ValueError (answer 400) for an unknown purpose or for refusing a notice_only one.
    """
    now = _aware(now)
    switchable = _switchable(config, regime)
    known = {p.id for p in config.purposes}
    for pid, on in choices.items():
        if pid not in known:
            raise ValueError(f"unknown purpose {pid!r}")
        if pid not in switchable and not on:
            raise ValueError(f"purpose {pid!r} is strictly necessary and cannot be refused")
    yes = frozenset(pid for pid, on in choices.items() if on and pid in switchable)
    no = frozenset(pid for pid, on in choices.items() if not on)
    carried_yes, carried_no, carried_override = _carried(config, regime, latest, now)
    granted = ((carried_yes - no) | yes) & switchable.keys()
    denied = ((carried_no - yes) | no) & switchable.keys()
    conflicting = bool(gpc and granted & gpc_purposes(config))
    return ConsentRecord(
        policy_version=config.policy.version,
        text_hash=shown_text_hash,
        language=language,
        method=method,
        ts=now,
        regime=regime,
        granted=granted,
        denied=denied,
        gpc=gpc,
        gpc_confirmed_override=conflicting and (confirmed_gpc_override or carried_override),
    )


def gpc_transition(
    latest: ConsentRecord | None, gpc: bool, *, has_subject: bool, now: datetime
) -> bool:
    """Whether this request appends a `gpc` record. GPC is a standing preference, honoured
    from the live header on every request (`resolve`); the record is only its proof, so:

    - never without a subject: a cookieless request is no one to remember, and recording it
      would mint an identifier per request (under opt-in rules none may exist before a
      choice; under opt-out it is a flood of subjects);
    - signal on (an opt-out, the protective direction): as soon as it differs from the
      latest record (GPC spec §3: a "do not sell or share" request);
    - signal off again: only once the latest record is `GPC_SETTLE` old, so a header that
      flips back and forth leaves at most one record per window; nothing is lost meanwhile,
      because enforcement never reads the record for the live signal, and the off record
      undoes no opt-out anyway (`gpc_record`).
    """
    if not has_subject:
        return False
    if latest is None:
        return gpc
    if latest.gpc == gpc:
        return False
    return gpc or now - latest.ts >= GPC_SETTLE


def gpc_record(
    config: Config,
    regime: str,
    latest: ConsentRecord | None,
    gpc: bool,
    *,
    language: str,
    now: datetime,
) -> ConsentRecord:
    """The record a GPC change appends. On: every purpose GPC refuses becomes denied (a new
    signal also ends an earlier confirmed override). Off: earlier choices stay as they were;
    the opt-out is not undone by a browser setting (only an explicit choice re-grants)."""
    now = _aware(now)
    granted, denied, _ = _carried(config, regime, latest, now)
    if gpc:
        refused = gpc_purposes(config) & _switchable(config, regime).keys()
        granted, denied = granted - refused, denied | refused
    return ConsentRecord(
        policy_version=config.policy.version,
        text_hash=text_hash(GPC_ON_TEXT if gpc else GPC_OFF_TEXT),
        language=language,
        method="gpc",
        ts=now,
        regime=regime,
        granted=granted,
        denied=denied,
        gpc=gpc,
        gpc_confirmed_override=False,
        chosen_at=latest.choice_time if latest is not None else None,
    )
