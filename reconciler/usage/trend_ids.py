"""Which config product a Trend identifier counts toward: read from global.yaml, never built in.

Each product in global.yaml may name the Trend identifiers it counts:

    products:
      wfbss-svc:
        trend:
          product_codes: [WFSBWXE3X]        # 9-character codes: a licence's `product_id`,
                                            # a service plan's `product_code`
          service_plan_ids: [0b6f...]       # LMPI `service_plan_id`s
          names: [Worry-Free Business Security Services]   # how Trend's usage report names it

`product_ids` (the key's name before product codes were documented) is still read, into the
same table as `product_codes`; `reconcile validate` asks for the rename.

One product key may count several identifiers; an identifier counted by two products is a
config error (`reconcile validate`), because the same seats would be billed twice.

Matching is case-insensitive and ignores surrounding spaces (GUIDs and product codes are
written both ways in Trend's own material). Lookups try the most specific identifier first:
product code, then service plan id, then name, so a subscription whose plan is mapped to one
product and whose licence names another product code bills the licence's product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.config.model import Product


def normal(identifier: object) -> str:
    return str(identifier or "").strip().casefold()


@dataclass(frozen=True)
class TrendIds:
    """Trend identifier (normalised) -> product key, one table per kind of identifier."""

    product_ids: dict[str, str] = field(default_factory=dict)  # product codes
    service_plan_ids: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    known_products: frozenset[str] = frozenset()

    @classmethod
    def from_products(cls, products: Mapping[str, Product]) -> TrendIds:
        tables: dict[str, dict[str, str]] = {"product_ids": {}, "service_plan_ids": {}, "names": {}}
        for key, product in products.items():
            for kind, table in tables.items():
                for identifier in getattr(product, "trend_" + kind, ()):
                    table.setdefault(normal(identifier), key)
        return cls(**tables, known_products=frozenset(products))

    def product_for(
        self, product_id: object = None, service_plan_id: object = None, name: object = None
    ) -> str | None:
        """The product key counting this identifier, most specific first; None if none does.
        `product_id` is a product code (a licence's `product_id`, a plan's `product_code`)."""
        for table, identifier in (
            (self.product_ids, product_id),
            (self.service_plan_ids, service_plan_id),
            (self.names, name),
        ):
            key = table.get(normal(identifier)) if normal(identifier) else None
            if key is not None:
                return key
        return None

    def any_identifier(self, value: object) -> str | None:
        """A product key for a value that may be any kind of identifier, or a product key itself
        (a CSV's product cell: `wfbss-svc`, `WFBSS-SVC` or Trend's product name)."""
        if normal(value) in {k.casefold() for k in self.known_products}:
            return next(k for k in self.known_products if k.casefold() == normal(value))
        return self.product_for(value, value, value)

    @property
    def empty(self) -> bool:
        return not (self.product_ids or self.service_plan_ids or self.names)
