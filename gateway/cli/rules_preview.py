"""`consentgate rules preview`: mint a signed preview link for one page.

The link (`PATH?cg_preview=TOKEN`, any query of PATH kept) forces the named experiment arms
and/or a visitor type on that path until it expires, for whoever opens it; it never sets
sticky state, records nothing, and its response is `Cache-Control: private, no-store`
(`gateway.personalization.preview_links`). Consent still applies: a forced visitor type shows
only where the purpose covering behaviour data is granted in the browser that opens the link.

The key is derived from the gateway's master key (`personalization_rules.preview`), so the
command must run with the same master key as the gateway (same config or environment).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from consent.master_key import load_master_key
from gateway.cli.common import EXIT_ERROR, UsageError, add_config
from gateway.wiring import load_config
from personalization_rules.attributes import VISITOR_TYPES
from personalization_rules.preview import PARAM, PreviewGrant, mint, parse_ttl, preview_key
from personalization_rules.rules import Rule, load_rules
from policies.config_errors import ConfigInvalid

MAX_TTL_SECONDS = 30 * 86400  # a month: a preview link is for checking a page, not a campaign


def preview(
    config_path: Path,
    url: str,
    variants: Sequence[str] = (),
    visitor_type: str | None = None,
    ttl: str = "1h",
    out: TextIO | None = None,
    now: datetime | None = None,
) -> int:
    """Print the preview link; 0 done, 1 bad config, 2 bad flag value."""
    out = out or sys.stdout
    try:
        loaded = load_config(config_path)
        rules = load_rules(loaded.rule_files, loaded.config)
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1
    now = now or datetime.now(UTC)
    try:
        path = parse_path(url)
        forced = parse_variants(variants, rules)
        if visitor_type is not None and visitor_type not in VISITOR_TYPES:
            raise UsageError(f"--visitor-type {visitor_type!r}: one of {', '.join(VISITOR_TYPES)}")
        if not forced and visitor_type is None:
            raise UsageError("nothing to preview: give --variant EXP=V and/or --visitor-type T")
        try:
            seconds = parse_ttl(ttl)
        except ValueError as exc:
            raise UsageError(f"--ttl: {exc}") from exc
        if seconds > MAX_TTL_SECONDS:
            raise UsageError(f"--ttl: at most {MAX_TTL_SECONDS // 86400}d")
    except UsageError as exc:
        print(f"consentgate rules preview: {exc}", file=sys.stderr)
        return EXIT_ERROR
    key = preview_key(load_master_key(loaded.config.keys.master_key_file))
    expires = int(now.timestamp()) + seconds
    token = mint(key, PreviewGrant(path, expires, forced, visitor_type))
    print(link(url, token), file=out)
    until = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
    print(f"valid for {path} until {until}", file=sys.stderr)
    return 0


def parse_path(url: str) -> str:
    """The (percent-decoded, as the gateway sees it) path a link is for."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        raise UsageError(f"--url {url!r}: a path on the shop, e.g. /product/umbrella")
    return unquote(parts.path)


def parse_variants(values: Sequence[str], rules: Sequence[Rule]) -> dict[str, str]:
    """`EXP=V` flags checked against the experiments the rules define."""
    experiments = {
        r.experiment.key: [v.id for v in r.experiment.variants]
        for r in rules
        if r.experiment is not None
    }
    forced: dict[str, str] = {}
    for value in values:
        key, eq, variant = value.partition("=")
        key, variant = key.strip(), variant.strip()
        if not eq or not key or not variant:
            raise UsageError(f"--variant {value!r}: expected EXP=VARIANT")
        if key not in experiments:
            known = ", ".join(sorted(experiments)) or "none"
            raise UsageError(f"--variant {value!r}: unknown experiment {key!r} (known: {known})")
        if variant not in experiments[key]:
            raise UsageError(
                f"--variant {value!r}: experiment {key!r} has no variant {variant!r} "
                f"(one of {', '.join(experiments[key])})"
            )
        forced[key] = variant
    return forced


def link(url: str, token: str) -> str:
    """`url` with `cg_preview=TOKEN` appended to its query (fragment kept last)."""
    base, hash_, fragment = url.partition("#")
    joiner = "&" if "?" in base else "?"
    if base.endswith(("?", "&")):
        joiner = ""
    return f"{base}{joiner}{PARAM}={token}{hash_}{fragment}"


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `preview` to the `rules` group."""
    parser = actions.add_parser(
        "preview", help="print a signed link that forces a variant or visitor type on one page"
    )
    add_config(parser)
    parser.add_argument("--url", required=True, metavar="PATH", help="the page's path")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="EXP=V", help="force an experiment arm"
    )
    parser.add_argument("--visitor-type", metavar="T", help="force a visitor type")
    parser.add_argument("--ttl", default="1h", help="how long the link works (default 1h)")
    parser.set_defaults(run=_preview_command)


def _preview_command(args: argparse.Namespace) -> int:
    return preview(
        args.config_path,
        url=args.url,
        variants=args.variant,
        visitor_type=args.visitor_type,
        ttl=args.ttl,
    )
