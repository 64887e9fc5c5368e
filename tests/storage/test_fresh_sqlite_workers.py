"""Several gateway workers opening one new SQLite file at the same moment all come up.

`run --workers N` starts its workers together; on a first start they all open (and switch to
WAL) a file that does not exist yet. A worker that lost that race used to log "store
unavailable at start" and answer not-ready until its background retry succeeded.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests import procs

pytestmark = pytest.mark.e2e

WORKERS = 4


def test_four_workers_on_a_fresh_sqlite_file_all_open_the_store(tmp_path: Path) -> None:
    with procs.start_upstream() as upstream:
        config = procs.write_config(tmp_path, upstream=upstream.url, workers=WORKERS)
        assert not (tmp_path / "consentgate.db").exists()
        with procs.start_gateway(config) as gateway:
            # Every worker has run its start-up once it answers; give the slowest a moment.
            deadline = time.monotonic() + 30
            while len(procs.descendants(gateway.pid)) < WORKERS and time.monotonic() < deadline:
                time.sleep(0.1)
            workers = sorted(procs.descendants(gateway.pid))
            assert len(workers) >= WORKERS, workers
            with httpx.Client(timeout=10) as client:
                for _ in range(4 * WORKERS):
                    # A new connection each time, so the requests spread over the workers.
                    ready = client.get(
                        f"{gateway.url}/_privacy/readyz", headers={"Connection": "close"}
                    )
                    assert ready.status_code == 200, ready.text
            log = gateway.log()
            assert "store unavailable" not in log, log
            assert "database is locked" not in log, log
            # No worker died and was replaced along the way.
            assert sorted(procs.descendants(gateway.pid)) == workers
