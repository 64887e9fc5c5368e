"""The profile write queue: batching, dropping when full, surviving failed writes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from personalization_rules.event_queue import EventQueue


def test_items_are_written_in_batches_in_order() -> None:
    batches: list[list[int]] = []

    async def write(batch: Sequence[int]) -> None:
        batches.append(list(batch))

    async def main() -> None:
        queue: EventQueue[int] = EventQueue(write, maxsize=100, batch_max=4)
        for i in range(10):  # queued before the writer runs: it takes them 4 at a time
            assert queue.put(i)
        queue.start()
        await queue.drain()
        await queue.close()
        assert queue.written == 10 and queue.dropped == 0 and queue.pending == 0

    asyncio.run(main())
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_items_put_while_the_writer_lingers_share_its_transaction() -> None:
    batches: list[list[int]] = []

    async def write(batch: Sequence[int]) -> None:
        batches.append(list(batch))

    async def main() -> None:
        queue: EventQueue[int] = EventQueue(write, linger=0.05)
        queue.start()
        for i in range(5):  # one page view every 5 ms, as under load
            queue.put(i)
            await asyncio.sleep(0.005)
        await queue.drain()
        await queue.close()

    asyncio.run(main())
    assert batches == [[0, 1, 2, 3, 4]]


def test_full_queue_drops_and_counts_without_blocking() -> None:
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        written.extend(batch)

    async def main() -> None:
        queue: EventQueue[int] = EventQueue(write, maxsize=3)
        results = [queue.put(i) for i in range(5)]
        assert results == [True, True, True, False, False]
        assert queue.dropped == 2 and queue.accepted == 3
        queue.start()
        await queue.close()

    asyncio.run(main())
    assert written == [0, 1, 2]


def test_a_failed_write_is_counted_and_the_writer_goes_on() -> None:
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        if 0 in batch:
            raise RuntimeError("store down")
        written.extend(batch)

    async def main() -> None:
        queue: EventQueue[int] = EventQueue(write, batch_max=1)
        queue.start()
        for i in range(3):
            queue.put(i)
        await queue.drain()
        assert queue.failed == 1 and queue.written == 2
        await queue.close()

    asyncio.run(main())
    assert written == [1, 2]


def test_close_writes_what_is_queued() -> None:
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        await asyncio.sleep(0)
        written.extend(batch)

    async def main() -> None:
        queue: EventQueue[int] = EventQueue(write)
        queue.start()
        for i in range(50):
            queue.put(i)
        await queue.close()
        await queue.close()  # twice is harmless

    asyncio.run(main())
    assert written == list(range(50))
