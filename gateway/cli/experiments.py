"""`consentgate experiments report`: per experiment and variant, exposures, conversions,
conversion rate, average order value and the two-proportion z-test p-value against the
control (the experiment's first variant in its rule file).

Counts come from the store (`ProfileStore.experiment_counts`): a subject counts once per
experiment, from their first sticky exposure; a conversion is a purchase event at or after
it. Exit 0 with the table (also when nothing was recorded yet); 2 when the config is invalid
or the store cannot be opened.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.cli.common import add_config
from gateway.wiring import components, load_config
from personalization_rules.experiment_stats import format_report, report
from personalization_rules.profile_store import ProfileStore
from personalization_rules.rules import load_rules
from policies.loader import ConfigInvalid, LoadedConfig
from storage.store import SchemaError, StoreUnavailable, open_store


def variant_order(loaded: LoadedConfig) -> dict[str, list[str]]:
    """Experiment key -> its variant ids in rule-file order (first: the control)."""
    order: dict[str, list[str]] = {}
    for rule in load_rules(loaded.rule_files, loaded.config):
        if rule.experiment is not None:
            found = order.setdefault(rule.experiment.key, [])
            found += [v.id for v in rule.experiment.variants if v.id not in found]
    return order


async def _report(config_path: Path) -> str:
    loaded = load_config(config_path)
    order = variant_order(loaded)
    store = await open_store(loaded.config.storage.url, components=components())
    try:
        counts = await ProfileStore(store).experiment_counts()
    finally:
        await store.close()
    return format_report(report(counts, order))


def experiments_report(config_path: Path) -> int:
    """Print the report; 2 with a reason when it cannot be made."""
    try:
        text = asyncio.run(_report(config_path))
    except ConfigInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (StoreUnavailable, SchemaError, ValueError) as exc:
        print(f"consentgate: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `experiments report`."""
    experiments = sub.add_parser("experiments", help="A/B/n experiment results")
    actions = experiments.add_subparsers(
        dest="experiments_command", required=True, metavar="ACTION"
    )
    parser = actions.add_parser(
        "report",
        help="per variant: exposures, conversion rate, average order value, p-value",
    )
    add_config(parser)
    parser.set_defaults(run=_report_command)


def _report_command(args: argparse.Namespace) -> int:
    return experiments_report(args.config_path)
