"""Purposes in the privacy team's vocabulary: fideslang data uses and third-party hosts.

Fides matches data uses by prefix: a notice or policy that declares `marketing.advertising`
covers a system that does `marketing.advertising.third_party.targeted`. We match the same way,
but by whole dotted segments, so `marketing.advertising` does not cover `marketing.advertisingx`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.models import Config, Purpose


def data_use_matches(declared: str, wanted: str) -> bool:
    """True when the data use `declared` covers `wanted` (equal, or an ancestor of it)."""
    return wanted == declared or wanted.startswith(declared + ".")


def data_uses_overlap(a: str, b: str) -> bool:
    """True when either data use covers the other: they share some processing."""
    return data_use_matches(a, b) or data_use_matches(b, a)


def purposes_covering(purposes: Iterable[Purpose], data_use: str) -> tuple[str, ...]:
    """Ids of the purposes that declare a data use covering `data_use`, in config order.

    A rule that needs `personalize.content.profiling` may run only when one of these is granted.
    """
    return tuple(p.id for p in purposes if any(data_use_matches(d, data_use) for d in p.data_uses))


def gpc_purposes(config: Config) -> frozenset[str]:
    """Ids of the purposes a GPC signal opts out of.

    A purpose is affected when any of its data uses overlaps a `policy.gpc_data_uses` entry in
    either direction: declaring `marketing` (broader) or `marketing.advertising.first_party`
    (narrower) both involve the `marketing.advertising` that GPC refuses.
    """
    wanted = config.policy.gpc_data_uses
    return frozenset(
        p.id
        for p in config.purposes
        if any(data_uses_overlap(d, g) for d in p.data_uses for g in wanted)
    )


@dataclass(frozen=True)
class HostIndex:
    """Third-party hosts → purposes, built once per config.

    `www.googletagmanager.com` matches only itself; `*.doubleclick.net` matches every subdomain
    at any depth but not `doubleclick.net` itself (list both to cover the apex).
    """

    exact: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suffixes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, purposes: Iterable[Purpose]) -> HostIndex:
        """Index every purpose's `hosts`."""
        exact: dict[str, list[str]] = {}
        suffixes: dict[str, list[str]] = {}
        for p in purposes:
            for host in p.hosts:
                if host.startswith("*."):
                    suffixes.setdefault(host[1:], []).append(p.id)  # keeps the leading dot
                else:
                    exact.setdefault(host, []).append(p.id)
        return cls(
            {h: tuple(ids) for h, ids in exact.items()},
            {s: tuple(ids) for s, ids in suffixes.items()},
        )

    def purposes_for(self, host: str) -> tuple[str, ...]:
        """Every purpose that lists `host`; a resource loads only if all are granted."""
        name = host.strip().lower().rstrip(".")
        found: list[str] = list(self.exact.get(name, ()))
        # Walk the parent domains: a.b.example.com → .b.example.com, .example.com, .com
        dot = name.find(".")
        while dot != -1:
            found.extend(self.suffixes.get(name[dot:], ()))
            dot = name.find(".", dot + 1)
        return tuple(dict.fromkeys(found))


def purposes_for_host(purposes: Sequence[Purpose], host: str) -> tuple[str, ...]:
    """One-off form of `HostIndex.build(purposes).purposes_for(host)`."""
    return HostIndex.build(purposes).purposes_for(host)
