"""The full recommender: catalog strategies plus k-anonymous event aggregates, over a catalog
file that is reloaded when it changes.

`AggregateRecommender` extends `CatalogRecommender` (personalization_rules.recommender):

- `bestsellers`: SKUs by consented purchases (k-anonymous), then the rest by the catalog's
  `popularity`, so a young shop still shows a full list; `category_bestsellers` the same,
  within the page's category;
- `trending_in_region`: the visitor's country's trending SKUs; nothing until k subjects
  contributed (the rule's fallback, or the shop's own slot content, shows instead);
- `bought_together`: partners of the page's product, then of what the visitor bought.

It reads `AggregateCache.snapshot` synchronously; refreshing it, and checking the catalog
file (`CatalogFile.check`), happen off the request path.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from personalization_rules.aggregates import AggregateCache
from personalization_rules.recommender import (
    CatalogRecommender,
    Product,
    RecommendContext,
    load_products,
)

log = logging.getLogger("consentgate.personalization")

CATALOG_CHECK_SECONDS = 5.0


class AggregateRecommender(CatalogRecommender):
    """Catalog strategies plus aggregates (module docstring)."""

    def __init__(self, products: Iterable[Product], cache: AggregateCache) -> None:
        super().__init__(products)
        self.cache = cache

    def replace_catalog(self, products: Iterable[Product]) -> None:
        """Serve from a new catalog (after the file changed)."""
        # Each attribute swap is atomic for the event loop; `recommend` never awaits.
        fresh = CatalogRecommender(products)
        self.products, self.by_sku, self.ranked = fresh.products, fresh.by_sku, fresh.ranked

    def candidates(self, strategy: str, context: RecommendContext) -> list[Product]:
        """Products of one strategy, best first."""
        snapshot = self.cache.snapshot
        if strategy == "bestsellers":
            return self._known(snapshot.bestsellers, rest=self.ranked)
        if strategy == "category_bestsellers":
            category = context.page_category
            if not category:
                return []
            found = self._known(snapshot.bestsellers, rest=self.ranked)
            return [p for p in found if p.category == category]
        if strategy == "trending_in_region":
            if not context.country:
                return []
            return self._known(snapshot.trending.get(context.country, ()))
        if strategy == "bought_together":
            anchors = [s for s in (context.page_sku, *context.purchased_skus) if s]
            partners = [p for a in anchors for p in snapshot.together.get(a, ())]
            return [p for p in self._known(partners) if p.sku not in anchors]
        return super().candidates(strategy, context)

    def _known(self, skus: Iterable[str], rest: Iterable[Product] = ()) -> list[Product]:
        """Catalog products for `skus` (unknown SKUs skipped, no repeats), then `rest`."""
        out: list[Product] = []
        seen: set[str] = set()
        for sku in skus:
            product = self.by_sku.get(sku)
            if product is not None and sku not in seen:
                seen.add(sku)
                out.append(product)
        out.extend(p for p in rest if p.sku not in seen)
        return out


class CatalogFile:
    """A catalog file and its products, reloaded when its mtime or size changes.

    `check` stats the file at most every `interval` seconds; call it off the request path.
    A file that no longer parses keeps the last good products (and is logged).
    """

    def __init__(
        self,
        path: Path,
        interval: float = CATALOG_CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.interval = interval
        self._clock = clock
        self._signature = self._stat()
        self.products: tuple[Product, ...] = tuple(load_products(path))
        self._checked = clock()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def check(self) -> bool:
        """Reload if the file changed since the last load; True when new products loaded."""
        now = self._clock()
        if now - self._checked < self.interval:
            return False
        self._checked = now
        signature = self._stat()
        if signature is None or signature == self._signature:
            return False
        # Remembered before parsing: a broken file is reported once, not at every check.
        self._signature = signature
        try:
            products = tuple(load_products(self.path))
        except (OSError, ValueError) as exc:
            log.warning("catalog %s not reloaded: %s", self.path, exc)
            return False
        self.products = products
        return True
