"""Pure parts of data-subject requests: periods, deadlines, states, the bundle and its proofs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit import merkle
from audit.checkpoint import Checkpoint
from audit.envelope import GENESIS_PREV_HASH, build_entry
from dsr.requests import (
    BUNDLE_KEYS,
    ConsentProof,
    DeadlinePolicy,
    Period,
    RequestError,
    SignedHead,
    assemble_bundle,
    audit_item,
    check_audit_item,
    complete,
    extend,
    inclusion_proofs,
    parse_period,
    receive,
    ref_mac,
    request_log_key,
)

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
POLICY = DeadlinePolicy(
    deadlines={"gdpr": Period(1, "months"), "us-optout": Period(45, "days")},
    extensions={"gdpr": Period(2, "months"), "us-optout": Period(45, "days")},
)


@pytest.mark.parametrize(
    ("start", "period", "end"),
    [
        # Regulation 1182/71 Art. 3(2)(c): no 31 February, so the last day of February.
        (datetime(2026, 1, 31), Period(1, "months"), datetime(2026, 2, 28)),
        (datetime(2028, 1, 31), Period(1, "months"), datetime(2028, 2, 29)),  # leap year
        (datetime(2026, 1, 15, 9, 30), Period(1, "months"), datetime(2026, 2, 15, 9, 30)),
        (datetime(2026, 12, 10), Period(1, "months"), datetime(2027, 1, 10)),  # year rolls
        (datetime(2026, 11, 30), Period(3, "months"), datetime(2027, 2, 28)),
        (datetime(2026, 3, 31), Period(2, "months"), datetime(2026, 5, 31)),
        (datetime(2026, 1, 1), Period(45, "days"), datetime(2026, 2, 15)),
        (datetime(2026, 12, 31), Period(12, "months"), datetime(2027, 12, 31)),
    ],
)
def test_period_after(start: datetime, period: Period, end: datetime) -> None:
    assert period.after(start) == end


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("1 month", Period(1, "months")),
        ("2 months", Period(2, "months")),
        ("45 days", Period(45, "days")),
        (" 1 day ", Period(1, "days")),
    ],
)
def test_parse_period(text: str, period: Period) -> None:
    assert parse_period(text) == period


@pytest.mark.parametrize("text", ["", "0 days", "month", "1 week", "-1 days", "1.5 months", "1m"])
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


@pytest.mark.parametrize(
    ("regime", "deadline", "extended"),
    [
        ("gdpr", datetime(2026, 2, 28, 12, tzinfo=UTC), datetime(2026, 4, 28, 12, tzinfo=UTC)),
        ("us-optout", T0 + timedelta(days=45), T0 + timedelta(days=90)),
        # Not configured: the defaults (one month, two more).
        ("default", datetime(2026, 2, 28, 12, tzinfo=UTC), datetime(2026, 4, 28, 12, tzinfo=UTC)),
    ],
)
def test_deadlines_by_regime(regime: str, deadline: datetime, extended: datetime) -> None:
    request = receive(
        request_id="dsr_1",
        kind="export",
        ref_mac="m",
        regime=regime,
        via="cli",
        now=T0,
        policy=POLICY,
    )
    assert request.status == "received" and request.deadline == deadline
    assert request.due == deadline
    longer = extend(request, POLICY)
    assert longer.status == "extended" and longer.extended_until == extended
    assert longer.due == extended


def test_policy_from_settings_strings() -> None:
    policy = DeadlinePolicy.from_settings({"gdpr": "1 month"}, {}, "45 days", "45 days")
    assert policy.deadline("gdpr", T0) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert policy.deadline("ccpa", T0) == T0 + timedelta(days=45)


def test_states_and_overdue() -> None:
    request = receive(
        request_id="dsr_1",
        kind="delete",
        ref_mac="m",
        regime="us-optout",
        via="officer",
        now=T0,
        policy=POLICY,
    )
    due = request.deadline
    assert not request.overdue(due)
    assert request.overdue(due + timedelta(seconds=1))
    extended = extend(request, POLICY)
    assert not extended.overdue(due + timedelta(days=1))
    with pytest.raises(RequestError):
        extend(extended, POLICY)  # one extension only
    done = complete(extended, now=due + timedelta(days=100), actor="admin:ann")
    assert done.status == "completed" and done.completed_by == "admin:ann"
    assert not done.overdue(due + timedelta(days=1000))
    with pytest.raises(RequestError):
        complete(done, now=T0, actor="x")
    with pytest.raises(RequestError):
        extend(done, POLICY)
    with pytest.raises(RequestError):
        receive(
            request_id="x",
            kind="rectify",
            ref_mac="m",
            regime="gdpr",
            via="cli",  # type: ignore[arg-type]
            now=T0,
            policy=POLICY,
        )


def test_ref_mac_is_keyed_and_hides_the_reference() -> None:
    key = request_log_key(bytes(32))
    mac = ref_mac(key, "CG-AAAAAAAAAAAAAAAA")
    assert mac == ref_mac(key, "CG-AAAAAAAAAAAAAAAA")
    assert mac != ref_mac(key, "CG-AAAAAAAAAAAAAAAB")
    assert mac != ref_mac(request_log_key(bytes([1]) * 32), "CG-AAAAAAAAAAAAAAAA")
    assert "CG-" not in mac and len(mac) == 64


# --- bundle and proofs ---------------------------------------------------------------------------

SUBJECT = "sub_" + "ab" * 16


def chain(n: int) -> list[dict[str, object]]:
    records, prev = [], GENESIS_PREV_HASH
    for seq in range(n):
        entry = build_entry(
            chain="main",
            seq=seq,
            prev_hash=prev,
            now=T0 + timedelta(seconds=seq),
            actor="subject",
            action="consent.given",
            subject=SUBJECT if seq % 2 else None,
        )
        records.append(entry.to_record())
        prev = entry.hash
    return records


def head_over(records: list[dict[str, object]], size: int) -> tuple[list[bytes], SignedHead]:
    from audit.envelope import from_record

    leaves = [from_record(r).leaf_hash() for r in records]
    checkpoint = Checkpoint("test/log", size, merkle.root(leaves[:size]))
    return leaves, SignedHead(checkpoint, checkpoint.body() + "\n— test/log c2lnbmF0dXJl\n")


@given(n=st.integers(1, 40), data=st.data())
def test_every_covered_entry_gets_a_verifying_proof(n: int, data: st.DataObject) -> None:
    records = chain(n)
    size = data.draw(st.integers(1, n))
    leaves, head = head_over(records, size)
    proofs = inclusion_proofs(leaves, head, list(range(n)))
    assert sorted(proofs) == list(range(size))  # entries beyond the checkpoint: none
    for index, proof in proofs.items():
        item = audit_item(records[index], None, "none", proof)
        check_audit_item(item, head.checkpoint)


def test_tampered_items_do_not_verify() -> None:
    records = chain(7)
    leaves, head = head_over(records, 7)
    proof = inclusion_proofs(leaves, head, [3])[3]
    good = audit_item(records[3], None, "none", proof)
    check_audit_item(good)
    bad_cases = [
        {**good, "record": {**records[3], "actor": "mallory"}},  # hash no longer matches
        {**good, "record": records[4]},  # another entry
        {**good, "proof": {**proof, "leaf_index": 2}},
        {**good, "proof": {**proof, "tree_size": 8}},
        {**good, "proof": {**proof, "hashes": list(reversed(proof["hashes"]))}},  # type: ignore[call-overload]
        {**good, "proof": {**proof, "hashes": []}},
        {**good, "proof": None},
    ]
    for bad in bad_cases:
        with pytest.raises(ValueError):
            check_audit_item(bad)
    other = Checkpoint("test/log", 7, hashlib.sha256(b"other").digest())
    with pytest.raises(merkle.ProofError):
        check_audit_item(good, other)
    with pytest.raises(merkle.ProofError):
        check_audit_item(good, Checkpoint("test/log", 8, head.checkpoint.root))


def test_leaves_that_do_not_reproduce_the_signed_root_give_no_proofs() -> None:
    records = chain(5)
    leaves, head = head_over(records, 5)
    with pytest.raises(merkle.ProofError):
        inclusion_proofs([*leaves[:2], bytes(32), *leaves[3:]], head, [0])
    with pytest.raises(merkle.ProofError):
        inclusion_proofs(leaves[:4], head, [0])


def test_bundle_has_the_contract_keys_in_order() -> None:
    consent = ConsentProof(
        ts=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        policy_version="v1",
        text_hash="ab" * 32,
        method="banner",
        language="en",
        regime="gdpr",
        granted=frozenset({"b", "a"}),
        denied=frozenset({"c"}),
        gpc=False,
    )
    item = audit_item(chain(1)[0], {"x": 1}, "decrypted", None)
    bundle = assemble_bundle(
        subject_ref="CG-AAAAAAAAAAAAAAAA",
        generated_at=T0,
        consents=[consent],
        personal={"profile": {"visitor_type": "new"}, "events": [{"type": "view"}]},
        audit=[item],
    )
    assert tuple(bundle) == BUNDLE_KEYS
    assert bundle["generated_at"] == "2026-01-31T12:00:00Z"
    assert bundle["consents"] == [
        {
            "time": "2026-01-02T03:04:05Z",
            "policy_version": "v1",
            "text_hash": "ab" * 32,
            "method": "banner",
            "language": "en",
            "regime": "gdpr",
            "granted": ["a", "b"],
            "denied": ["c"],
            "gpc": False,
            "gpc_confirmed_override": False,
            "chosen_at": None,
        }
    ]
    assert bundle["decisions"] == [] and bundle["events"] == [{"type": "view"}]
    assert bundle["audit"][0]["proof_status"] == "pending"
    assert bundle["audit"][0]["data"] == {"x": 1}
