"""`GET /_privacy/metrics`: this process's counters in the Prometheus text format (0.0.4).

Dependency-free on purpose: a counter is one dict increment on the request path, and the text
is rendered only when scraped. Counters are per process: with `--workers N` each worker keeps
its own, and a scrape reaches whichever worker accepted it (label the target by instance, or
run one worker per port, to sum them), as with any multi-process Python exporter without a
shared-memory directory.

Access is limited to `gateway.metrics_allow` (default: loopback only), checked against the
client as the proxy resolves it (`gateway.http.forwarded.resolve`): the TCP peer, or, when the peer
is one of `gateway.trusted_proxies`, the rightmost untrusted `X-Forwarded-For` entry. Behind a
TLS terminator on the same host every peer is loopback, so checking the peer alone would serve
the counters to anyone on the internet. Like nginx's `stub_status` behind `allow`/`deny` with
`real_ip_from`: operational counters (traffic volume, consent rates, error bursts) are for the
operator's scraper, not for visitors of the shop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gateway.http.forwarded import TrustedProxies, parse_address, resolve
from policies.models import IPNetwork

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


class Counter:
    """A monotonically increasing count per label set."""

    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[Labels, int] = {}

    def inc(self, labels: Labels = (), n: int = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + n


class Registry:
    """Counters, plus gauges read from the live objects at scrape time."""

    def __init__(self) -> None:
        self.counters: list[Counter] = []
        self.gauges: list[tuple[str, str, Callable[[], float | None]]] = []

    def counter(self, name: str, help_text: str) -> Counter:
        found = Counter(name, help_text)
        self.counters.append(found)
        return found

    def gauge(self, name: str, help_text: str, read: Callable[[], float | None]) -> None:
        self.gauges.append((name, help_text, read))

    def render(self) -> str:
        lines: list[str] = []
        for counter in self.counters:
            lines += [f"# HELP {counter.name} {counter.help}", f"# TYPE {counter.name} counter"]
            lines += [
                f"{counter.name}{_labels(labels)} {value}"
                for labels, value in sorted(counter.values.items())
            ]
        for name, help_text, read in self.gauges:
            value = read()
            if value is None:
                continue
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class GatewayMetrics:
    """The gateway's metrics; `endpoint` serves them to allowed clients."""

    def __init__(self, allow: Iterable[IPNetwork], trusted: TrustedProxies) -> None:
        self.allow = tuple(allow)
        self.trusted = trusted
        self.registry = Registry()
        self.requests = self.registry.counter(
            "consentgate_requests_total", "Requests answered, by kind and status class."
        )
        self.consent_choices = self.registry.counter(
            "consentgate_consent_choices_total",
            "Consent records made durable, by regime, method and audit action.",
        )
        self.pages_withheld = self.registry.counter(
            "consentgate_pages_withheld_total",
            "Pages answered 502 because the gateway could not read them, by reason.",
        )

    def endpoint(self, request: Request) -> Response:
        peer = request.client.host if request.client is not None else ""
        # The same client the proxy forwards as X-Forwarded-For: a forwarded address counts
        # only from a trusted peer (MDN X-Forwarded-For: rightmost untrusted entry).
        view = resolve(peer, request.scope["scheme"], request.scope["headers"], self.trusted)
        if not self.allowed(view.client):
            return PlainTextResponse(
                "metrics are only served to gateway.metrics_allow\n", status_code=403
            )
        return Response(self.registry.render(), media_type=CONTENT_TYPE)

    def allowed(self, client: str) -> bool:
        """True when the client address is in `gateway.metrics_allow`."""
        address = parse_address(client) if client else None
        if address is None:
            return False
        return any(address in network for network in self.allow)
