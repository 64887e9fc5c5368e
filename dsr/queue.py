"""What the console needs from the data-subject request tracker, as a Protocol.

The tracker (``cg_dsr_requests``, another module) implements ``RequestQueue``; the console
only lists requests and completes them. ``deadline_status`` is the pure rule the queue page
uses to make overdue requests stand out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

DUE_SOON = timedelta(days=7)
Urgency = Literal["done", "overdue", "due_soon", "on_track"]


@dataclass(frozen=True)
class QueuedRequest:
    """One data-subject request as the queue shows it."""

    id: str
    kind: str  # "export" | "delete" | ...
    subject_ref: str | None
    regime: str
    status: str  # "received" | "extended" | "completed" | ...
    received_at: datetime
    deadline: datetime
    completed_at: datetime | None = None
    completed_by: str | None = None

    @property
    def open(self) -> bool:
        """True until completed."""
        return self.completed_at is None


class RequestQueue(Protocol):
    """The tracker's interface the console uses."""

    async def list_requests(self, *, include_completed: bool) -> Sequence[QueuedRequest]:
        """Requests, open ones by deadline first."""
        ...

    async def complete(self, request_id: str, actor: str, now: datetime) -> bool:
        """Mark a request completed by `actor`; False when unknown or already completed."""
        ...


def deadline_status(request: QueuedRequest, now: datetime) -> tuple[Urgency, int]:
    """(urgency, whole days): days overdue, or days left (GDPR Art. 12(3): one month)."""
    if not request.open:
        return "done", 0
    left = request.deadline - now
    if left < timedelta(0):
        return "overdue", -(left // timedelta(days=1))  # started days count: 3 h late is 1
    days = left.days
    return ("due_soon" if left <= DUE_SOON else "on_track"), days
