"""A stand-in for Open-Meteo's forecast API on loopback, answering in its real response format.

Run: `python -m tests.fake_open_meteo --port PORT [--slow-seconds 1.0]`; prints
`LISTENING <port>` once bound. Plain asyncio streams, so every failure mode is byte-exact.

`GET /{MODE}[/{tag}...]/v1/forecast?latitude=..&longitude=..&current=..` — a provider's
`base_url` is `http://127.0.0.1:PORT/{MODE}/{tag}`; the tag keeps each test's counts apart.
Requests are validated like Open-Meteo does (400 `{"error": true, "reason": …}`). MODE:

- `ok`: 200, `application/json; charset=utf-8`, a `/v1/forecast` document for the `current`
  variables asked for (London's cell rains, 9 °C; other places are overcast).
- `slow`: the same after `--slow-seconds`.
- `500`: 500 with a plain-text body. `400`: Open-Meteo's error document.
- `garbage`: 200 "application/json" whose body is not JSON.
- `truncated`: 200 with a correctly framed body holding the first half of the JSON.
- `short`: Content-Length of the whole document, half of it sent, connection closed.
- `html`: the right JSON labelled `text/html` (a captive portal or proxy page).
- `reset`: the connection is reset (RST) without an answer.
- `switch`: behaves as the mode last set by `GET /__switch?prefix=/switch/TAG&mode=MODE`.

`GET /__stats?prefix=/ok/TAG` answers `{"count": n, "queries": [{name: value}…]}` for the
forecast requests received under that prefix (counted on arrival, before any sleep).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import struct
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FORECAST = "/v1/forecast"
UNITS = {
    "temperature_2m": "°C",
    "apparent_temperature": "°C",
    "weather_code": "wmo code",
    "is_day": "",
    "relative_humidity_2m": "%",
    "precipitation": "mm",
    "cloud_cover": "%",
    "wind_speed_10m": "km/h",
}
# Places by 0.1° cell: (temperature, apparent temperature, WMO code, is_day).
PLACES: dict[tuple[float, float], tuple[float, float, int, int]] = {
    (51.5, -0.1): (9.0, 6.4, 63, 1),  # London: moderate rain
    (37.8, -122.4): (15.0, 14.1, 45, 0),  # San Francisco: fog
}


class Server:
    """Request counts per prefix and the modes of `switch` prefixes."""

    def __init__(self, slow_seconds: float) -> None:
        self.slow_seconds = slow_seconds
        self.queries: dict[str, list[dict[str, str]]] = {}
        self.switches: dict[str, str] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            await self.route(method, target, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await respond(writer, 400, "text/plain", b"bad request")
        except ConnectionError:
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def route(self, method: str, target: str, writer: asyncio.StreamWriter) -> None:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.path == "/__stats":
            seen = self.queries.get(query.get("prefix", ""), [])
            body = json.dumps({"count": len(seen), "queries": seen}).encode()
            await respond(writer, 200, "application/json", body)
            return
        if parts.path == "/__switch":
            self.switches[query["prefix"]] = query["mode"]
            await respond(writer, 200, "application/json", b"{}")
            return
        if method != "GET" or not parts.path.endswith(FORECAST):
            await respond(writer, 404, "text/plain", b"not found")
            return
        prefix = parts.path[: -len(FORECAST)]
        self.queries.setdefault(prefix, []).append(query)
        mode = prefix.strip("/").split("/")[0]
        if mode == "switch":
            mode = self.switches.get(prefix, "ok")
        await self.forecast(mode, query, writer)

    async def forecast(
        self, mode: str, query: dict[str, str], writer: asyncio.StreamWriter
    ) -> None:
        status, document = forecast_document(query)
        body = json.dumps(document, ensure_ascii=False).encode()
        json_type = "application/json; charset=utf-8"
        if status != 200:
            await respond(writer, status, json_type, body)
        elif mode == "ok":
            await respond(writer, 200, json_type, body)
        elif mode == "slow":
            await asyncio.sleep(self.slow_seconds)
            await respond(writer, 200, json_type, body)
        elif mode == "500":
            await respond(writer, 500, "text/plain", b"Internal Server Error")
        elif mode == "400":
            reason = b'{"error":true,"reason":"Cannot initialize WeatherVariable from invalid"}'
            await respond(writer, 400, json_type, reason)
        elif mode == "garbage":
            await respond(writer, 200, json_type, b"\x00\xff<html>definitely not json")
        elif mode == "truncated":
            await respond(writer, 200, json_type, body[: len(body) // 2])
        elif mode == "short":
            await respond(writer, 200, json_type, body[: len(body) // 2], length=len(body))
        elif mode == "html":
            await respond(writer, 200, "text/html; charset=utf-8", body)
        elif mode == "reset":
            sock = writer.get_extra_info("socket")
            # SO_LINGER on, 0 s: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            await respond(writer, 404, "text/plain", f"unknown mode {mode}".encode())


def forecast_document(query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Open-Meteo's answer to `query`: (200, forecast) or (400, its error document)."""
    try:
        latitude = float(query["latitude"])
        longitude = float(query["longitude"])
    except (KeyError, ValueError):
        return error("Parameter 'latitude' and 'longitude' must have the same number of elements")
    if not -90 <= latitude <= 90:
        return error(f"Latitude must be in range of -90 to 90°. Given: {latitude}.")
    if not -180 <= longitude <= 180:
        return error(f"Longitude must be in range of -180 to 180°. Given: {longitude}.")
    names = [n for n in query.get("current", "").split(",") if n]
    unknown = [n for n in names if n not in UNITS]
    if unknown:
        return error(f"Cannot initialize WeatherVariable from invalid String value {unknown[0]}.")
    temperature, apparent, code, is_day = PLACES.get(
        (round(latitude, 1), round(longitude, 1)), (12.5, 11.0, 3, 1)
    )
    values = {
        "temperature_2m": temperature,
        "apparent_temperature": apparent,
        "weather_code": code,
        "is_day": is_day,
        "relative_humidity_2m": 80,
        "precipitation": 0.4,
        "cloud_cover": 100,
        "wind_speed_10m": 11.2,
    }
    now = datetime.now(UTC)
    # Open-Meteo's `current` is the latest 15-minute step, local time of `timezone` (GMT).
    step = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    document: dict[str, Any] = {
        # The model grid point nearest the request, not the requested coordinates.
        "latitude": round(latitude * 16) / 16,
        "longitude": round(longitude * 16) / 16,
        "generationtime_ms": 0.0259876251220703,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 23.0,
    }
    if names:
        document["current_units"] = {"time": "iso8601", "interval": "seconds"} | {
            n: UNITS[n] for n in names
        }
        document["current"] = {"time": step.strftime("%Y-%m-%dT%H:%M"), "interval": 900} | {
            n: values[n] for n in names
        }
    return 200, document


def error(reason: str) -> tuple[int, dict[str, Any]]:
    """Open-Meteo's answer to a request it refuses."""
    return 400, {"error": True, "reason": reason}


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    content_type: str,
    body: bytes,
    length: int | None = None,
) -> None:
    """Write one HTTP/1.1 response and flush; `length` may promise more than `body` holds."""
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'Status')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + body)
    await writer.drain()


async def main(port: int, slow_seconds: float) -> None:
    server = Server(slow_seconds)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", port)
    bound = listener.sockets[0].getsockname()[1]
    print(f"LISTENING {bound}", flush=True)
    async with listener:
        await listener.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--slow-seconds", type=float, default=1.0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.port, args.slow_seconds))
