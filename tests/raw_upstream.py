"""An upstream that answers with exact bytes: the awkward shop the HTTP libraries won't play.

Run: `python -m tests.raw_upstream DIR [--port 0]`; it prints `LISTENING <port>` once bound.
`GET /NAME` answers the file `DIR/NAME` byte for byte (status line, fields and body as the test
wrote them; the connection closes after it), so a test can send a page with no Content-Type,
two of them, or a content coding no library would produce. `GET /__request` (and any
`GET /__request/...`) answers the request head it received, as text/plain (what reached the
shop, byte for byte). Anything else: 404, empty.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


async def handle(
    directory: Path, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        target = head.split(b" ", 2)[1].decode("latin-1")
        name = target.lstrip("/").split("?", 1)[0]
        if name == "__request" or name.startswith("__request/"):
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(head)
                + head
            )
        elif name and "/" not in name and (directory / name).is_file():
            writer.write((directory / name).read_bytes())
        else:
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(directory: Path, port: int) -> None:
    server = await asyncio.start_server(lambda r, w: handle(directory, r, w), "127.0.0.1", port)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        asyncio.run(main(args.directory, args.port))
    except KeyboardInterrupt:
        sys.exit(0)
