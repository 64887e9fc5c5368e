"""1 GiB up and down through a real gateway process with flat memory.

Memory is read from the kernel: `VmHWM` (peak resident set) of the gateway's main process and
of every granian worker below it, before and after the transfers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from tests import procs
from tests.upstream_app import PATTERN, pattern_sha256

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GIB = 1024**3
# Python, aiohttp, SQLAlchemy and the app loaded are ~60-80 MB; buffering a body would not fit.
PEAK_LIMIT = 150 * 1024 * 1024
# What a transfer may add to the peak: a few socket and stream buffers, never the body.
GROWTH_LIMIT = 48 * 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.Server]:
    with procs.start_upstream() as upstream:
        config = procs.write_config(tmp_path_factory.mktemp("streaming"), upstream=upstream.url)
        with procs.start_gateway(config) as server:
            yield server


def gateway_peaks(gateway: procs.Server) -> dict[int, int]:
    """Peak RSS of the gateway process and each of its workers, by pid."""
    pids = [gateway.pid, *procs.descendants(gateway.pid)]
    assert len(pids) >= 2, "expected granian worker processes below the gateway"
    return {pid: procs.peak_rss_bytes(pid) for pid in pids}


def pattern_stream(size: int) -> Iterator[bytes]:
    whole, rest = divmod(size, len(PATTERN))
    for _ in range(whole):
        yield PATTERN
    yield PATTERN[:rest]


def test_one_gib_down_and_up_with_flat_memory(gateway: procs.Server) -> None:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        assert client.get("/warm-up").status_code == 200
        before = gateway_peaks(gateway)

        digest, received = hashlib.sha256(), 0
        with client.stream("GET", f"/bytes/{GIB}") as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(GIB)
            for chunk in response.iter_raw(1 << 16):
                digest.update(chunk)
                received += len(chunk)
        assert received == GIB
        assert digest.hexdigest() == pattern_sha256(GIB)

        upload = client.post(
            "/upload", content=pattern_stream(GIB), headers={"Content-Length": str(GIB)}
        )
        assert upload.json() == {"size": GIB, "sha256": pattern_sha256(GIB)}

        # Chunked upload (no Content-Length): the same bytes arrive.
        chunked = client.post("/upload", content=pattern_stream(GIB // 4))
        assert chunked.json() == {"size": GIB // 4, "sha256": pattern_sha256(GIB // 4)}

    after = gateway_peaks(gateway)
    for pid, peak in after.items():
        assert peak < PEAK_LIMIT, f"pid {pid} peaked at {peak / 2**20:.0f} MiB"
        assert peak - before.get(pid, 0) < GROWTH_LIMIT, f"pid {pid} grew during streaming"
