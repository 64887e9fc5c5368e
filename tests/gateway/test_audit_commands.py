"""`consentgate audit verify` / `audit export`, run as the real CLI against SQLite and PostgreSQL.

Each tampering kind mutates the stored rows with plain SQL, as someone with database access
would, and `python -m gateway audit verify` must exit 1 naming the first bad entry.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit.checkpoint import NoteSigner, open_note, parse_verifier_key, sign_note
from audit.envelope import Entry, canonical_json
from audit.verify import verify_log
from tests import procs
from tests.audit.audit_stores import (
    SUBJECT_A,
    populate,
    sql,
    write_config,
)
from tests.cli import consentgate


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return consentgate(*args)


@dataclass
class Log:
    config: Path
    url: str
    entries: list[Entry]

    def verify(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_cli("audit", "verify", "--config", str(self.config), *extra)

    def export(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_cli("audit", "export", "--config", str(self.config), *extra)


@pytest.fixture
def log(store_url: str, tmp_path: Path) -> Log:
    config = write_config(tmp_path, store_url)
    return Log(config, store_url, populate(config, 12))


def test_intact_log_verifies(log: Log) -> None:
    result = log.verify()
    assert result.returncode == 0, result.stdout + result.stderr
    # The first entry is checkpointed at once, then every 4th; close covers the tail.
    assert result.stdout.startswith("ok: 12 entries, 4 checkpoints verified"), result.stdout
    sizes = sql(log.url, "SELECT size FROM cg_audit_checkpoints ORDER BY idx")[0]
    assert [size for (size,) in sizes] == [1, 5, 9, 12]


def test_public_key_file_is_used(log: Log, tmp_path: Path) -> None:
    pub = log.config.parent / "audit-signing.key.pub"
    assert log.verify("--public-key", str(pub)).returncode == 0
    stranger = tmp_path / "stranger.pub"
    stranger.write_text(NoteSigner("consentgate/audit", bytes(32)).verifier().to_string())
    result = log.verify("--public-key", str(stranger))
    assert result.returncode == 1
    assert "unknown_key" in result.stdout
    missing = log.verify("--public-key", str(tmp_path / "absent.pub"))
    assert missing.returncode == 2 and "cannot read public key" in missing.stderr


def _resign_last_checkpoint(log: Log) -> None:
    [[(idx, note)]] = sql(
        log.url, "SELECT idx, note FROM cg_audit_checkpoints ORDER BY idx DESC LIMIT 1"
    )
    body = note[: note.rfind("\n\n") + 1]
    forged = sign_note(body, [NoteSigner("consentgate/audit", b"\x07" * 32)])
    sql(
        log.url,
        ("UPDATE cg_audit_checkpoints SET note = :n WHERE idx = :i", {"n": forged, "i": idx}),
    )


def _forged_at_5(log: Log) -> Entry:
    return Entry(
        chain="main",
        seq=5,
        ts=log.entries[4].ts,
        prev_hash=log.entries[4].hash,
        actor="admin:mallory",
        action="consent.given",
        subject=None,
        data=None,
    )


_INSERT = (
    "INSERT INTO cg_audit_entries (chain, seq, v, ts, prev_hash, hash, actor, action, subject,"
    " data, public, leaf_hash) VALUES (:chain, :seq, :v, :ts, :prev_hash, :hash, :actor, :action,"
    " :subject, :data, :public, :leaf_hash)"
)


def _row(entry: Entry) -> dict[str, object]:
    return {
        **{k: v for k, v in entry.to_record().items() if k not in ("data", "public")},
        "data": None if entry.data is None else canonical_json(entry.data.to_json()).decode(),
        "public": None if entry.public is None else canonical_json(entry.public_dict()).decode(),
        "leaf_hash": entry.leaf_hash().hex(),
    }


def _insert_forged_row(log: Log) -> None:
    """A well-formed entry pushed in at seq 5; the genuine ones from 5 on renumbered."""
    sql(
        log.url,
        "UPDATE cg_audit_entries SET seq = seq + 1000 WHERE seq >= 5",
        "UPDATE cg_audit_entries SET seq = seq - 999 WHERE seq >= 1000",
        (_INSERT, _row(_forged_at_5(log))),
    )


def _insert_forged_row_and_relink(log: Log) -> None:
    """The careful forger: also re-numbers, re-links and re-hashes every later entry."""
    rewritten = [_forged_at_5(log)]
    for genuine in log.entries[5:]:
        rewritten.append(
            dataclasses.replace(genuine, seq=genuine.seq + 1, prev_hash=rewritten[-1].hash)
        )
    sql(
        log.url,
        "DELETE FROM cg_audit_entries WHERE seq >= 5",
        *[(_INSERT, _row(entry)) for entry in rewritten],
    )


# (case id, tampering, expected in the output)
TAMPERING: list[tuple[str, Callable[[Log], object], str]] = [
    (
        "changed field",
        lambda log: sql(log.url, "UPDATE cg_audit_entries SET actor = 'mallory' WHERE seq = 5"),
        "entry seq 5: changed",
    ),
    (
        "changed data ciphertext",
        lambda log: sql(
            log.url,
            'UPDATE cg_audit_entries SET data = replace(data, \'"kid":"1"\', \'"kid":"2"\')'
            " WHERE seq = 7",
        ),
        "entry seq 7: changed",
    ),
    (
        "deleted row",
        lambda log: sql(log.url, "DELETE FROM cg_audit_entries WHERE seq = 5"),
        "entry seq 5: deleted",
    ),
    # The forged seq 5 links and hashes correctly; the first row that does not is the
    # renumbered genuine entry after it, which is what the chain walk can name.
    ("inserted forged row", _insert_forged_row, "entry seq 6: changed"),
    (
        "inserted forged row, later entries re-hashed",
        _insert_forged_row_and_relink,
        "entry seq 5, checkpoint #2: changed",
    ),
    (
        "two rows' seq swapped",
        lambda log: sql(
            log.url,
            "UPDATE cg_audit_entries SET seq = -1 WHERE seq = 5",
            "UPDATE cg_audit_entries SET seq = 5 WHERE seq = 6",
            "UPDATE cg_audit_entries SET seq = 6 WHERE seq = -1",
        ),
        "entry seq 5: changed",
    ),
    (
        "tail dropped",
        lambda log: sql(log.url, "DELETE FROM cg_audit_entries WHERE seq >= 10"),
        "entry seq 10, checkpoint #3: truncated",
    ),
    (
        "tail and its checkpoint dropped (rollback; the sink remembers)",
        lambda log: sql(
            log.url,
            "DELETE FROM cg_audit_entries WHERE seq >= 9",
            "DELETE FROM cg_audit_checkpoints WHERE size > 9",
        ),
        "entry seq 9, remembered checkpoint #0: rolled_back",
    ),
    (
        "checkpoint re-signed by an unknown key",
        _resign_last_checkpoint,
        "checkpoint #3: unknown_key",
    ),
]


@pytest.mark.parametrize(
    ("tamper", "expected"), [(t, e) for _, t, e in TAMPERING], ids=[c for c, _, _ in TAMPERING]
)
def test_tampering_is_detected(log: Log, tamper: Callable[[Log], object], expected: str) -> None:
    assert log.verify().returncode == 0
    tamper(log)
    result = log.verify()
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"audit verify failed: {expected}"), result.stdout


def test_store_rolled_back_to_an_older_file_copy(tmp_path: Path) -> None:
    """SQLite: restore yesterday's database file; the sink file saw a later checkpoint."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    config = write_config(tmp_path, url)
    populate(config, 8)
    shutil.copy(tmp_path / "store.db", tmp_path / "backup.db")
    populate(config, 4)
    assert run_cli("audit", "verify", "--config", str(config)).returncode == 0
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"store.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "backup.db", tmp_path / "store.db")
    result = run_cli("audit", "verify", "--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rolled_back" in result.stdout and "entry seq 8" in result.stdout, result.stdout


def test_verify_without_any_key_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    result = run_cli("audit", "verify", "--config", str(config))
    assert result.returncode == 2
    assert "no public key" in result.stderr


def test_verify_rejects_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "policies.yaml"
    config.write_text("version: 1\ngateway: {upstream: 'http://x'}\naudit: {chian: main}\n")
    result = run_cli("audit", "verify", "--config", str(config))
    assert result.returncode == 2
    assert "audit.chian: unknown key" in result.stderr


# --- export ---------------------------------------------------------------------------------------


def _jsonl(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_export_jsonl_is_the_stored_chain_and_verifies(log: Log) -> None:
    rows = _jsonl(log.export("--format", "jsonl"))
    assert rows == [e.to_record() for e in log.entries]
    assert list(rows[0]) == [
        "seq",
        "ts",
        "chain",
        "prev_hash",
        "hash",
        "actor",
        "action",
        "subject",
        "data",
        "public",
        "v",
    ]
    [rows_of_notes] = sql(log.url, "SELECT note FROM cg_audit_checkpoints ORDER BY idx")
    notes = [note for (note,) in rows_of_notes]
    verifier = parse_verifier_key((log.config.parent / "audit-signing.key.pub").read_text())
    assert open_note(notes[0], [verifier]).verified_by == ("consentgate/audit",)
    # An export plus the public key is enough to check the log offline.
    report = verify_log(rows, notes, [verifier], origin="consentgate/audit")
    assert report.ok and report.entries == 12


def test_export_filters_by_time_and_subject(log: Log) -> None:
    everything = _jsonl(log.export("--format", "jsonl"))
    since, until = everything[3]["ts"], everything[7]["ts"]
    window = _jsonl(log.export("--format", "jsonl", "--since", str(since), "--until", str(until)))
    assert [r["seq"] for r in window] == [3, 4, 5, 6]
    mine = _jsonl(log.export("--format", "jsonl", "--subject", SUBJECT_A))
    assert mine and all(r["subject"] == SUBJECT_A for r in mine)
    assert [r["seq"] for r in mine] == [r["seq"] for r in everything if r["subject"] == SUBJECT_A]
    # 13:00:05+01:00 is 12:00:05Z: offsets are honoured, not dropped.
    offset = _jsonl(log.export("--format", "jsonl", "--since", "2026-03-01T13:00:05+01:00"))
    expected = [r for r in everything if str(r["ts"]) >= "2026-03-01T12:00:05.000000Z"]
    assert offset == expected and 0 < len(expected) < len(everything)


def test_export_csv_has_the_same_columns(log: Log) -> None:
    result = log.export("--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert len(rows) == 12
    for row, entry in zip(rows, log.entries, strict=True):
        record = entry.to_record()
        assert row["hash"] == record["hash"] and row["seq"] == str(entry.seq)
        assert row["subject"] == (entry.subject or "")
        data = record["data"]
        assert row["data"] == ("" if data is None else canonical_json(data).decode())


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--subject", "CG-AAAAAAAAAAAAAAAA"], 1, "unknown subject"),
        (["--since", "yesterday"], 2, "--since: 'yesterday' is not an RFC 3339 time"),
        (
            ["--until", "2026-03-01T12:00:00"],
            2,
            "--until: '2026-03-01T12:00:00' needs a UTC offset",
        ),
    ],
)
def test_export_rejects(log: Log, args: list[str], code: int, message: str) -> None:
    result = log.export("--format", "jsonl", *args)
    assert result.returncode == code
    assert message in result.stderr
    assert result.stdout == ""


def test_export_into_a_closed_pipe_ends_quietly(store_url: str, tmp_path: Path) -> None:
    # More than a pipe's 64 KiB buffer, so the export is still writing when `head` leaves.
    config = write_config(tmp_path, store_url, checkpoint_every_entries=100)
    populate(config, 400)
    command = [
        sys.executable,
        "-m",
        "gateway",
        "audit",
        "export",
        "--config",
        str(config),
        "--format",
        "jsonl",
    ]
    export = subprocess.Popen(
        command,
        cwd=procs.REPO,
        env=procs.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert export.stdout is not None and export.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=export.stdout, capture_output=True, timeout=120)
    export.stdout.close()  # only `head` holds the read end now
    stderr = export.stderr.read().decode()
    code = export.wait(timeout=120)
    export.stderr.close()
    assert json.loads(head.stdout)["seq"] == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert stderr == ""
    assert code == 141  # 128 + SIGPIPE, as a shell reports for `cat` in the same place


STORE_V1 = Path(__file__).resolve().parents[1] / "audit" / "data" / "store-v1"


def test_store_written_by_version_1_verifies_after_version_2_appends(tmp_path: Path) -> None:
    # Made by the code before envelope version 2 (see the folder's README).
    shutil.copytree(STORE_V1, tmp_path, dirs_exist_ok=True)
    (tmp_path / "audit.db").chmod(0o600)
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    config = write_config(tmp_path, url)
    (tmp_path / "consentgate-master.key").write_text("A" * 43 + "=\n")  # 32 zero bytes
    log = Log(config, url, [])
    first = log.verify()
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("ok: 10 entries"), first.stdout
    # Today's code appends version-2 entries to the same chain through the real CLI.
    for command in (("keys", "rotate"), ("retention", "purge")):
        done = run_cli(*command, "--config", str(config))
        assert done.returncode == 0, done.stdout + done.stderr
    second = log.verify()
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("ok: 12 entries"), second.stdout
    rows = _jsonl(log.export("--format", "jsonl"))
    assert [r["v"] for r in rows] == [1] * 10 + [2, 2]
    assert all(r["public"] is None for r in rows[:10])
    rotated, purged = rows[10:]
    assert (rotated["action"], rotated["actor"]) == ("keys.rotated", "cli")
    assert rotated["public"] == {"key_version": 1}  # the store's first keyring
    assert purged["action"] == "retention.purged" and purged["public"]["events"] == 0
    assert set(purged["public"]) == {
        "consent_records",
        "events",
        "exposures",
        "profiles",
        "decisions",
        "dsr_requests",
    }
    # Who acted, and nothing else: no details ride in the actor any more.
    for row in rows[10:]:
        assert ";" not in str(row["actor"]) and "=" not in str(row["actor"])
    # The export alone (v1 rows carry "public": null) verifies offline with the public key.
    notes = [note for (note,) in sql(url, "SELECT note FROM cg_audit_checkpoints ORDER BY idx")[0]]
    verifier = parse_verifier_key((tmp_path / "audit-signing.key.pub").read_text())
    assert verify_log(rows, notes, [verifier], origin="consentgate/audit").ok


def test_export_csv_has_a_public_column(log: Log) -> None:
    rotated = run_cli("keys", "rotate", "--config", str(log.config))
    assert rotated.returncode == 0, rotated.stderr
    rows = list(csv.DictReader(io.StringIO(log.export("--format", "csv").stdout, newline="")))
    assert rows[-1]["action"] == "keys.rotated" and rows[-1]["actor"] == "cli"
    assert rows[-1]["public"] == '{"key_version":1}'  # the store's first keyring
    assert all(row["public"] == "" for row in rows[:-1])
