"""Profile writes off the page path: a bounded queue and one background writer, in batches.

The page path calls `put` (never awaits, never blocks); one writer task waits `linger`
seconds after the first item for more to come, then takes whatever is queued (up to
`batch_max`) and hands it to `write` in one call (one transaction): under load, one
transaction per ~`linger` instead of one per page view (each is several statements). Profile
updates are best-effort, unlike consent records: when the queue is full the item is dropped
and counted (`dropped`), and a failed write is logged and counted (`failed`), never retried.
A page must not wait for, or fail because of, personalization bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("consentgate.personalization")

T = TypeVar("T")


class EventQueue(Generic[T]):
    """A bounded queue drained by one writer task (see the module docstring)."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        maxsize: int = 10_000,
        batch_max: int = 256,
        linger: float = 0.02,
    ) -> None:
        self._write = write
        self._linger = linger
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self.batch_max = batch_max
        self._task: asyncio.Task[None] | None = None
        # Metric-ish counters (exported by whoever serves /metrics).
        self.accepted = 0
        self.dropped = 0
        self.written = 0
        self.failed = 0

    def put(self, item: T) -> bool:
        """Queue `item`; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        self.accepted += 1
        return True

    def start(self) -> None:
        """Start the writer task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="consentgate-profile-writer")

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self._linger > 0:
                await asyncio.sleep(self._linger)
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._flush(batch)

    async def _flush(self, batch: list[T]) -> None:
        try:
            await self._write(batch)
            self.written += len(batch)
        except Exception as exc:  # best-effort: count it, keep the writer alive
            self.failed += len(batch)
            log.warning("profile write of %d items failed: %s", len(batch), type(exc).__name__)
        finally:
            for _ in batch:
                self._queue.task_done()

    async def drain(self) -> None:
        """Wait until everything queued so far is written (or failed)."""
        await self._queue.join()

    async def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout` seconds), then stop the writer."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.drain()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    @property
    def pending(self) -> int:
        """Items waiting to be written."""
        return self._queue.qsize()
