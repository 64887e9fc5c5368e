"""`audit.sinks`: the append-only checkpoint file and the webhook."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from audit_testlog import SIGNER, TestLog

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.sinks import FileSink, WebhookSink, latest_note, read_notes
from tests import procs


def _notes(n: int) -> list[str]:
    log = TestLog()
    notes = []
    for _ in range(n):
        log.append()
        notes.append(log.checkpoint())
    return notes


def test_file_sink_appends_one_json_line_per_note(tmp_path: Path) -> None:
    path = tmp_path / "sink.jsonl"
    notes = _notes(3)

    async def push() -> None:
        sink = FileSink(path)
        for note in notes:
            await sink.push("main", note)
        await sink.push("other", notes[0])
        await sink.close()

    asyncio.run(push())
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    assert json.loads(lines[0]) == {"chain": "main", "note": notes[0]}
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_notes(path, "main") == notes
    assert read_notes(path, "other") == notes[:1]
    assert latest_note(path, "main") == notes[2]


# (case, lines appended after the genuine notes, expected latest note index or None)
LATEST_CASES = [
    ("torn last write", ['{"chain": "main", "note": "consentg'], 2),
    ("not json", ["garbage"], 2),
    ("note is not a string", ['{"chain": "main", "note": 5}'], 2),
    ("malformed note text", [json.dumps({"chain": "main", "note": "x\n\n- y z\n"})], 2),
    ("nothing extra", [], 2),
]


@pytest.mark.parametrize(
    ("extra", "latest"), [(e, i) for _, e, i in LATEST_CASES], ids=[c for c, _, _ in LATEST_CASES]
)
def test_latest_note_skips_unusable_lines(tmp_path: Path, extra: list[str], latest: int) -> None:
    notes = _notes(3)
    path = tmp_path / "sink.jsonl"
    lines = [json.dumps({"chain": "main", "note": n}) for n in notes] + extra
    path.write_text("\n".join(lines) + "\n")
    assert latest_note(path, "main") == notes[latest]


def test_latest_note_is_the_largest_not_the_last(tmp_path: Path) -> None:
    """Nodes push after their own commits, so the file order may lag the log's order."""
    notes = _notes(3)
    path = tmp_path / "sink.jsonl"
    order = [notes[0], notes[2], notes[1]]
    path.write_text("".join(json.dumps({"chain": "main", "note": n}) + "\n" for n in order))
    assert latest_note(path, "main") == notes[2]


def test_missing_sink_file_remembers_nothing(tmp_path: Path) -> None:
    assert read_notes(tmp_path / "absent.jsonl", "main") == []
    assert latest_note(tmp_path / "absent.jsonl", "main") is None


def test_file_sink_failure_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FileSink(tmp_path / "no-such-dir" / "sink.jsonl")
    with caplog.at_level(logging.ERROR, "consentgate.audit"):
        asyncio.run(sink.push("main", _notes(1)[0]))
    assert "cannot append" in caplog.text


def test_webhook_posts_each_note(caplog: pytest.LogCaptureFixture) -> None:
    received: list[tuple[str, str, bytes]] = []
    note = sign_checkpoint(Checkpoint("o", 1, bytes(32)), SIGNER)

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        received.append(
            (request.headers["Content-Type"], request.headers["X-Consentgate-Chain"], body)
        )
        return web.Response(status=500 if body.startswith(b"fail") else 204)

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/witness", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        sink = WebhookSink(f"http://127.0.0.1:{port}/witness")
        try:
            await sink.push("main", note)
            await sink.push("main", "fail\n")
            dead = WebhookSink(f"http://127.0.0.1:{procs.free_port()}/witness", timeout=2)
            await dead.push("main", note)  # refused: logged, not raised
            await dead.close()
        finally:
            await sink.close()
            await runner.cleanup()

    with caplog.at_level(logging.WARNING, "consentgate.audit"):
        asyncio.run(scenario())
    assert received[0] == ("text/plain; charset=utf-8", "main", note.encode())
    assert "answered 500" in caplog.text
    assert "failed: All connection attempts failed" in caplog.text
