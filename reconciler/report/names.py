"""Display names for customers and products, read straight from the config YAML.

The report only needs names, so it reads `global.yaml` and `customers/*.yaml` with
`yaml.safe_load` rather than `reconciler.config.load_config`: a report of what was *sent* must
still render when today's config is invalid, half-edited or absent. Anything missing or
unreadable falls back to the ledger's keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml


@dataclass(frozen=True)
class Names:
    products: dict[str, str] = field(default_factory=dict)  # key -> display name, config order
    customers: dict[str, str] = field(default_factory=dict)  # slug -> display name
    warnings: tuple[str, ...] = ()
    # billing.timezone of global.yaml: the report's clock (when a send happened, which month it
    # happened in). UTC when the config is absent or names no valid zone.
    timezone: str = "UTC"

    def product(self, key: str) -> str:
        return self.products.get(key) or key

    def customer(self, slug: str) -> str:
        return self.customers.get(slug) or slug

    def product_order(self, keys: set[str] | frozenset[str] | tuple[str, ...]) -> tuple[str, ...]:
        """Config order first (how the MSP lists its catalogue), then unknown keys sorted."""
        wanted = set(keys)
        known = [key for key in self.products if key in wanted]
        return tuple(known + sorted(wanted - set(known)))


def _load(path: Path, warnings: list[str]) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        warnings.append(f"{path}: ignored for names ({error.__class__.__name__})")
        return None


def load_names(config_dir: Path | None) -> Names:
    if config_dir is None or not config_dir.is_dir():
        return Names()
    warnings: list[str] = []
    products: dict[str, str] = {}
    global_yaml = config_dir / "global.yaml"
    data = _load(global_yaml, warnings) if global_yaml.is_file() else None
    timezone = _timezone(data)
    if isinstance(data, dict) and isinstance(data.get("products"), dict):
        for key, product in data["products"].items():
            name = product.get("name") if isinstance(product, dict) else None
            products[str(key)] = str(name) if name else str(key)
    customers: dict[str, str] = {}
    for path in sorted((config_dir / "customers").glob("*.yaml")):
        data = _load(path, warnings)
        name = data.get("name") if isinstance(data, dict) else None
        if name:
            customers[path.stem] = str(name)
    return Names(products=products, customers=customers, warnings=tuple(warnings),
                 timezone=timezone)


def _timezone(data: Any) -> str:
    billing = data.get("billing") if isinstance(data, dict) else None
    zone = billing.get("timezone") if isinstance(billing, dict) else None
    if not isinstance(zone, str):
        return "UTC"
    try:
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return "UTC"
    return zone
