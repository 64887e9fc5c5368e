"""Deadline urgency on the request queue (dsr/queue.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dsr.queue import QueuedRequest, deadline_status

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def request(deadline: timedelta, completed: bool = False) -> QueuedRequest:
    return QueuedRequest(
        "r1",
        "export",
        "ref",
        "gdpr",
        "received",
        NOW - timedelta(days=20),
        NOW + deadline,
        NOW if completed else None,
        "ada" if completed else None,
    )


@pytest.mark.parametrize(
    ("deadline", "expected"),
    [
        (timedelta(days=20), ("on_track", 20)),
        (timedelta(days=7), ("due_soon", 7)),
        (timedelta(hours=3), ("due_soon", 0)),
        (timedelta(0), ("due_soon", 0)),
        (-timedelta(hours=3), ("overdue", 1)),
        (-timedelta(days=1), ("overdue", 1)),
        (-timedelta(days=1, seconds=1), ("overdue", 2)),
    ],
)
def test_deadline_status(deadline: timedelta, expected: tuple[str, int]) -> None:
    assert deadline_status(request(deadline), NOW) == expected


def test_completed_requests_are_done_even_past_the_deadline() -> None:
    assert deadline_status(request(-timedelta(days=9), completed=True), NOW) == ("done", 0)
