"""A gateway node stand-in for the multi-process test: `python audit_appender.py CONFIG N ACTOR GO`.

Opens the store from CONFIG, starts an `AuditLog`, waits until the file GO exists (so every
process starts appending at once), appends N entries as ACTOR (every other one durable) and
closes the log.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from audit.configured import build_audit_log
from gateway.wiring import load_config
from storage.store import open_store

MASTER_KEY = bytes(range(32))


async def main(config_path: Path, n: int, actor: str, go: Path) -> None:
    config = load_config(config_path).config
    store = await open_store(config.storage.url)
    log = build_audit_log(store, config.audit, MASTER_KEY)
    await log.start()
    while not go.exists():
        await asyncio.sleep(0.01)
    subject = "sub_" + actor.encode().hex().ljust(32, "0")[:32]
    for i in range(n):
        if i % 2:
            await log.append_durable(actor, "consent.given", subject, {"i": i})
        else:
            await log.append(actor, "config.loaded")
    await log.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))
