"""What the rule benchmarks (`conditions.py`, `rules.py`) share: the vocabulary they draw
synthetic rules from (ten slots, the first four of which pages carry, and the countries rules
target), their command line and how they time a batch of requests."""

import argparse
import statistics
import time
from collections.abc import Callable

SLOTS = [
    "hero-banner",
    "recommendations",
    "promo-strip",
    "footer-offer",
    "cart-upsell",
    "sidebar",
    "newsletter",
    "shipping-note",
    "weather-tip",
    "header-note",
]
COUNTRIES = ["GB", "SE", "US", "TH", "SA", "DE", "FR", "IE", "NL", "ES"]


def arguments(doc: str) -> argparse.Namespace:
    """`--rounds` and `--requests`, described by the first line of `doc`."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--requests", type=int, default=500)
    return parser.parse_args()


def measure(run: Callable[[], object], rounds: int, count: int) -> float:
    """Median over rounds of the mean time per request (`run` serves `count`), in microseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / count / 1000)
    return statistics.median(samples)
