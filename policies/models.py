"""Typed models of `policies.yaml`.

Every section forbids unknown keys so a misspelt option is a `consentgate check` error with
FILE:LINE instead of a silently ignored setting. Relative paths are resolved against the
directory of the config file by the loader (`policies.loader`), never against the CWD.
Later issues add sections (purposes, regimes, rules, audit); each is its own model here.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MIB = 1024 * 1024


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Timeouts(Section):
    """Upstream timeouts in seconds; a timeout answers 504."""

    connect: Annotated[float, Field(gt=0)] = 5.0
    # Time to the response head, and the longest silence while streaming a body.
    read: Annotated[float, Field(gt=0)] = 30.0


class GatewaySettings(Section):
    """Where the gateway listens, what it fronts and whom it trusts."""

    upstream: str
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    prefix: str = "/_privacy"
    # Peers whose X-Forwarded-* / Forwarded headers are believed. Explicit, never "*".
    trusted_proxies: list[IPNetwork] = Field(default_factory=list)
    timeouts: Timeouts = Timeouts()
    # Upper bound on decoded HTML the rewriter will handle per response (gzip-bomb guard).
    max_html_bytes: Annotated[int, Field(gt=0)] = 32 * MIB
    # Keep-alive pool to the upstream.
    pool_size: Annotated[int, Field(ge=1, le=10_000)] = 256

    @field_validator("upstream")
    @classmethod
    def _upstream_is_http_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("upstream must be an http:// or https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("upstream must not carry credentials, a query or a fragment")
        return value.rstrip("/")

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/") or len(value) < 2:
            raise ValueError("prefix must start with '/' and not end with '/', e.g. /_privacy")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _no_wildcards(cls, value: object) -> object:
        if isinstance(value, list) and any(v in ("*", "0.0.0.0/0", "::/0") for v in value):
            raise ValueError("trusted_proxies must list explicit addresses, never '*' or /0")
        return value


class StorageSettings(Section):
    """One SQLAlchemy URL: sqlite+aiosqlite:///PATH (default) or postgresql+asyncpg://..."""

    url: str = "sqlite+aiosqlite:///consentgate.db"

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "storage.url must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value


class GeoSettings(Section):
    """A MaxMind-format database (GeoLite2-City, DB-IP lite)."""

    database: Path | None = None
    # When true a missing or corrupt database means geo "unknown" instead of a start error.
    optional: bool = False


class WeatherSettings(Section):
    """Weather provider; personalization fails open when it is slow or down."""

    provider: Literal["none", "offline", "open-meteo"] = "none"
    offline_file: Path | None = None
    base_url: str = "https://api.open-meteo.com"
    budget_ms: Annotated[int, Field(ge=1, le=5000)] = 50


class RulesSettings(Section):
    """The folder of rule files (YAML)."""

    directory: Path = Path("rules")


class Config(Section):
    """The whole of `policies.yaml`."""

    version: Literal[1] = 1
    gateway: GatewaySettings
    storage: StorageSettings = StorageSettings()
    geo: GeoSettings = GeoSettings()
    weather: WeatherSettings = WeatherSettings()
    rules: RulesSettings = RulesSettings()
    catalog: Path | None = None
