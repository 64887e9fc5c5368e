"""Data-subject requests, pure: deadlines by regime, request states, and the export bundle.

Deadlines (GDPR Art. 12(3): "within one month of receipt", extendable "by two further
months"; CCPA, Cal. Civ. Code §1798.130(a)(2): 45 days, extendable once by 45 more) are
periods of calendar months or days. A month ends on the same day number of the next month,
or on that month's last day when it has no such day (EU Regulation 1182/71 Art. 3(2)(c)):
31 January + 1 month = 28 (or 29) February.

Request states: ``received`` → (``extended``) → ``completed``. A request is overdue while it
is not completed and ``now`` is past its deadline (the extended one, if extended).

The bundle (contract "Data-subject bundle") is a JSON object with exactly the top-level keys
``BUNDLE_KEYS``. Every item of ``audit`` carries the entry's stored ``record`` (so anyone can
recompute its RFC 6962 leaf hash from the canonical bytes, ``audit.envelope``), its
decrypted ``data`` where the subject's key still exists, and ``proof``: an RFC 9162 §2.1.3
inclusion proof of leaf ``leaf_index`` in the tree of ``tree_size`` leaves whose root is
signed in the C2SP checkpoint note ``checkpoint`` (hashes as lowercase hex).
``check_audit_item`` is the customer-side verification.

Nothing here reads a clock, a file or randomness.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from audit import merkle
from audit.checkpoint import Checkpoint, b64std, parse_checkpoint_body
from audit.envelope import from_record

Kind = Literal["export", "delete"]
Status = Literal["received", "extended", "completed"]
KINDS: tuple[Kind, ...] = ("export", "delete")
BUNDLE_KEYS = ("subject_ref", "generated_at", "consents", "profile", "decisions", "events", "audit")
BUNDLE_VERSION = 1

_PERIOD_RE = re.compile(r"([1-9][0-9]{0,3}) (day|days|month|months)")
_REF_MAC_LABEL = b"consentgate/dsr-request-ref/v1"


class RequestError(ValueError):
    """A state change that is not allowed (e.g. extending a completed request)."""


# --- periods and deadlines ----------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A legal period: whole calendar months or whole days."""

    amount: int
    unit: Literal["days", "months"]

    def after(self, start: datetime) -> datetime:
        """The instant this period after ``start`` ends (same time of day)."""
        if self.unit == "days":
            return start + timedelta(days=self.amount)
        months = start.month - 1 + self.amount
        year, month = start.year + months // 12, months % 12 + 1
        # Regulation 1182/71 Art. 3(2)(c): no such day in the last month → its last day.
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)


def parse_period(text: str) -> Period:
    """``"1 month"``, ``"2 months"``, ``"45 days"`` → Period; ValueError otherwise."""
    match = _PERIOD_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a period like '1 month' or '45 days'")
    amount, unit = int(match.group(1)), match.group(2)
    return Period(amount, "months" if unit.startswith("month") else "days")


@dataclass(frozen=True)
class DeadlinePolicy:
    """Deadline and extension per regime, with fallbacks for regimes not listed."""

    deadlines: Mapping[str, Period]
    extensions: Mapping[str, Period]
    default_deadline: Period = Period(1, "months")
    default_extension: Period = Period(2, "months")

    @classmethod
    def from_settings(
        cls,
        deadlines: Mapping[str, str],
        extensions: Mapping[str, str],
        default_deadline: str,
        default_extension: str,
    ) -> DeadlinePolicy:
        """From the config's period strings (``policies.models.DsrSettings``)."""
        return cls(
            {k: parse_period(v) for k, v in deadlines.items()},
            {k: parse_period(v) for k, v in extensions.items()},
            parse_period(default_deadline),
            parse_period(default_extension),
        )

    def deadline(self, regime: str, received_at: datetime) -> datetime:
        """When a request received at ``received_at`` under ``regime`` is due."""
        return self.deadlines.get(regime, self.default_deadline).after(received_at)

    def extended(self, regime: str, deadline: datetime) -> datetime:
        """The deadline after the one extension the regime allows."""
        return self.extensions.get(regime, self.default_extension).after(deadline)


# --- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DsrRequest:
    """One tracked data-subject request. ``ref_mac`` links it to the customer's reference
    without storing it (``ref_mac``); after an erasure nothing here names the person."""

    id: str
    kind: Kind
    ref_mac: str
    regime: str
    via: str  # self-service | officer | cli
    received_at: datetime
    deadline: datetime
    status: Status = "received"
    extended_until: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None

    @property
    def due(self) -> datetime:
        """The deadline in force: the extended one once extended."""
        return self.extended_until or self.deadline

    def overdue(self, now: datetime) -> bool:
        """Open and past its deadline."""
        return self.status != "completed" and now > self.due


def ref_mac(key: bytes, subject_ref: str) -> str:
    """HMAC-SHA256 of a subject reference under the request log's key (hex).

    The key is derived from the master key (``request_log_key``); the reference has 80
    random bits, so without the key the MAC reveals nothing, and with it only someone who
    already holds the reference can find its requests.
    """
    return hmac.new(key, subject_ref.encode("utf-8"), hashlib.sha256).hexdigest()


def request_log_key(master_key: bytes) -> bytes:
    """The request log's MAC key: its own domain under the master key."""
    return hmac.new(master_key, _REF_MAC_LABEL, hashlib.sha256).digest()


def receive(
    *,
    request_id: str,
    kind: Kind,
    ref_mac: str,
    regime: str,
    via: str,
    now: datetime,
    policy: DeadlinePolicy,
) -> DsrRequest:
    """A request received ``now``; its deadline follows from the regime."""
    if kind not in KINDS:
        raise RequestError(f"unknown request kind {kind!r}")
    return DsrRequest(request_id, kind, ref_mac, regime, via, now, policy.deadline(regime, now))


def extend(request: DsrRequest, policy: DeadlinePolicy) -> DsrRequest:
    """GDPR Art. 12(3) / CCPA: one extension, while the request is open."""
    if request.status != "received":
        raise RequestError(f"request {request.id} is {request.status}; it cannot be extended")
    return replace(
        request,
        status="extended",
        extended_until=policy.extended(request.regime, request.deadline),
    )


def complete(request: DsrRequest, *, now: datetime, actor: str) -> DsrRequest:
    """Mark the request completed by ``actor``."""
    if request.status == "completed":
        raise RequestError(f"request {request.id} is already completed")
    return replace(request, status="completed", completed_at=now, completed_by=actor)


# --- the bundle ---------------------------------------------------------------------------------


def format_time(ts: datetime) -> str:
    """RFC 3339 UTC to the second, e.g. ``2026-01-31T12:00:00Z`` (naive means UTC)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return ts.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@dataclass(frozen=True)
class ConsentProof:
    """One consent record as the subject sees it (GDPR Art. 7(1): proof of consent)."""

    ts: datetime
    policy_version: str
    text_hash: str
    method: str
    language: str
    regime: str
    granted: frozenset[str]
    denied: frozenset[str]
    gpc: bool
    gpc_confirmed_override: bool = False
    chosen_at: datetime | None = None

    def to_json(self) -> dict[str, object]:
        """The bundle's form: the proof fields, purposes sorted."""
        return {
            "time": format_time(self.ts),
            "policy_version": self.policy_version,
            "text_hash": self.text_hash,
            "method": self.method,
            "language": self.language,
            "regime": self.regime,
            "granted": sorted(self.granted),
            "denied": sorted(self.denied),
            "gpc": self.gpc,
            "gpc_confirmed_override": self.gpc_confirmed_override,
            "chosen_at": format_time(self.chosen_at) if self.chosen_at else None,
        }


@dataclass(frozen=True)
class SignedHead:
    """The latest signed checkpoint: its parsed body and the note as signed."""

    checkpoint: Checkpoint
    note: str


def inclusion_proofs(
    leaves: Sequence[bytes], head: SignedHead, indices: Sequence[int]
) -> dict[int, dict[str, object]]:
    """RFC 9162 §2.1.3.1 proofs of ``indices`` against ``head`` (only the covered ones).

    ``leaves`` are the chain's leaf hashes from seq 0 (at least ``head``'s tree size). Raises
    ``merkle.ProofError`` when the leaves do not reproduce the signed root (a store changed
    after signing: ``audit verify`` says where).
    """
    size = head.checkpoint.size
    if len(leaves) < size:
        raise merkle.ProofError(f"only {len(leaves)} leaves for a tree of {size}")
    tree = merkle.Tree(leaves[:size])
    if tree.root() != head.checkpoint.root:
        raise merkle.ProofError("the stored leaves do not reproduce the signed root")
    root = head.checkpoint.root.hex()
    return {
        index: {
            "leaf_index": index,
            "tree_size": size,
            "root": root,
            "root_base64": b64std(head.checkpoint.root),
            "hashes": [h.hex() for h in tree.inclusion_proof(index, size)],
            "checkpoint": head.note,
        }
        for index in indices
        if 0 <= index < size
    }


def audit_item(
    record: Mapping[str, object],
    data: Mapping[str, object] | None,
    data_status: Literal["none", "decrypted", "erased", "unreadable"],
    proof: Mapping[str, object] | None,
) -> dict[str, object]:
    """One of the subject's audit entries in the bundle (module docstring)."""
    return {
        "seq": record["seq"],
        "ts": record["ts"],
        "action": record["action"],
        "actor": record["actor"],
        "subject": record["subject"],
        "hash": record["hash"],
        "data": dict(data) if data is not None else None,
        "data_status": data_status,
        "record": dict(record),
        "proof": dict(proof) if proof is not None else None,
        "proof_status": "included" if proof is not None else "pending",
    }


def check_audit_item(item: Mapping[str, Any], checkpoint: Checkpoint | None = None) -> None:
    """Verify a bundle audit item's inclusion proof; raises ``merkle.ProofError``.

    The leaf is recomputed from the stored record (``from_record`` checks its ``hash``), so a
    changed record fails. ``checkpoint`` is the tree head to check against: pass the one
    ``audit.checkpoint.open_checkpoint`` verified with the log's public key. Without it, the
    body of the item's own ``checkpoint`` note is used (its signature is NOT checked then).
    The proof's ``tree_size`` and ``root`` must be that checkpoint's: an inclusion proof
    alone does not bind the tree size.
    """
    proof = item.get("proof")
    if not isinstance(proof, Mapping):
        raise merkle.ProofError("the item has no proof")
    try:
        entry = from_record(item["record"])
        hashes = [bytes.fromhex(h) for h in proof["hashes"]]
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        if checkpoint is None:
            note = str(proof["checkpoint"])
            checkpoint = parse_checkpoint_body(note[: note.rfind("\n\n") + 1])
        claimed_root = bytes.fromhex(proof["root"])
    except (KeyError, TypeError, ValueError) as exc:
        raise merkle.ProofError(f"malformed item: {exc}") from exc
    if size != checkpoint.size or claimed_root != checkpoint.root:
        raise merkle.ProofError("the proof is not against the checkpoint's tree")
    if index != entry.seq:
        raise merkle.ProofError(f"leaf index {index} is not the entry's seq {entry.seq}")
    merkle.verify_inclusion(index, size, entry.leaf_hash(), hashes, checkpoint.root)


def assemble_bundle(
    *,
    subject_ref: str,
    generated_at: datetime,
    consents: Sequence[ConsentProof],
    personal: Mapping[str, Any],
    audit: Sequence[Mapping[str, object]],
) -> dict[str, Any]:
    """The data-subject bundle (contract keys, in contract order).

    ``personal`` holds ``profile``, ``decisions`` and ``events`` (personalization's export;
    missing parts are empty).
    """
    return {
        "subject_ref": subject_ref,
        "generated_at": format_time(generated_at),
        "consents": [c.to_json() for c in consents],
        "profile": personal.get("profile"),
        "decisions": list(personal.get("decisions") or []),
        "events": list(personal.get("events") or []),
        "audit": [dict(a) for a in audit],
    }
