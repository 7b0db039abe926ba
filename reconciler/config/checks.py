"""Cross-file checks: what no single schema can see.

They run after the schema checks on every file that parsed, so they read the data
defensively (a wrong type was already reported by the schema; here it is just skipped).

Decisions:
- Duplicates are reported on the later file in slug order, naming the first file:line.
  `connectwise_company` compares case-insensitively (ConnectWise identifiers are), and so does
  `trend_customer_id` (a GUID). Placeholder ids (`REPLACE-ME`) are never duplicates of each
  other: the schema already reports each one.
- A `billing`/`executive_summary` block under `integration: general` is an error, not a
  warning: it looks like an override but would silently do nothing.
- Two product keys billing one ConnectWise catalog item (`connectwise_product`, compared
  case-insensitively as ConnectWise compares identifiers) are an error on the later key: both
  would map to one addition per agreement, and one of the two seat counts would be lost.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reconciler.config.diagnostics import Diagnostic
from reconciler.config.schemas import PLACEHOLDER_ID
from reconciler.config.yamlsource import JsonPath, YamlDocument

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
OVERRIDE_BLOCKS = ("billing", "executive_summary")


def slug_problem(path: Path) -> str | None:
    """Why a customer file's name cannot be a slug, or None."""
    if SLUG.match(path.stem):
        return None
    return (
        f"file name '{path.stem}' is not a valid customer slug: use lower-case letters, digits, "
        "'.', '_' and '-', starting with a letter or digit"
    )


def check_global(doc: YamlDocument) -> list[Diagnostic]:
    return [
        *_timezone(doc, ("billing", "timezone")),
        *_shared_catalog_items(doc),
        *_trend_ids_counted_twice(doc),
        *_older_product_ids(doc),
        *_reported_usage_billed_early(doc, doc),
    ]


def _trend_ids_counted_twice(doc: YamlDocument) -> Iterator[Diagnostic]:
    """A Trend id two products count would bill the same seats twice."""
    products = doc.data.get("products") if isinstance(doc.data, dict) else None
    first: dict[tuple[str, str], tuple[str, int]] = {}
    for key, product in (products or {}).items() if isinstance(products, dict) else ():
        trend = product.get("trend") if isinstance(product, dict) else None
        for kind, ids in (trend or {}).items() if isinstance(trend, dict) else ():
            for index, identifier in enumerate(ids if isinstance(ids, list) else ()):
                # `product_ids` is the older name of `product_codes`: one table, one check.
                folded = ("product_codes" if kind == "product_ids" else kind, str(identifier).strip().casefold())
                path = ("products", key, "trend", kind, index)
                if folded in first and first[folded][0] != key:
                    other, line = first[folded]
                    yield doc.diagnostic(
                        path, f"Trend {kind[:-1].replace('_', ' ')} '{identifier}' is already counted "
                        f"by product {other} (line {line}): the same seats would be billed twice")
                elif folded not in first:
                    first[folded] = (key, doc.mark(path)[0])


def _older_product_ids(doc: YamlDocument) -> Iterator[Diagnostic]:
    """`trend.product_ids` still loads (older configs) but Trend's documented identifier is the
    9-character product code: say how to rename, and that a value of another shape never matches."""
    products = doc.data.get("products") if isinstance(doc.data, dict) else None
    for key, product in (products or {}).items() if isinstance(products, dict) else ():
        trend = product.get("trend") if isinstance(product, dict) else None
        if isinstance(trend, dict) and trend.get("product_ids"):
            yield doc.diagnostic(
                ("products", key, "trend", "product_ids"),
                "trend.product_ids is now trend.product_codes: rename the key; Trend's licences and service "
                "plans carry 9-character product codes (e.g. WFSBWXE3X), see `reconcile trend products`",
                at_key=True, level="warning",
            )


def _reported_usage_billed_early(global_doc: YamlDocument | None,
                                 doc: YamlDocument) -> Iterator[Diagnostic]:
    """With `usage.basis: reported`, a billing day before the report is final is a warning."""
    usage = _get(global_doc.data, ("usage",)) if global_doc is not None else None
    if not isinstance(usage, dict) or usage.get("source") != "lmpi" or usage.get("basis") != "reported":
        return
    day = _get(doc.data, ("billing", "day"))
    if doc is not global_doc and (doc.data.get("integration") != "custom" or day is None):
        return  # a customer following the global day is warned about once, in global.yaml
    day = 1 if day is None else day
    from reconciler.usage.trend_report import ADJUSTABLE_UNTIL_DAY

    if isinstance(day, int) and not isinstance(day, bool) and day <= ADJUSTABLE_UNTIL_DAY:
        yield doc.diagnostic(
            ("billing", "day"),
            f"billing day {day} with usage.basis: reported bills from Trend's monthly report before it "
            f"is final (partners can adjust it until day {ADJUSTABLE_UNTIL_DAY}): use day "
            f"{ADJUSTABLE_UNTIL_DAY + 1} or later",
            level="warning",
        )


def _shared_catalog_items(doc: YamlDocument) -> Iterator[Diagnostic]:
    products = doc.data.get("products") if isinstance(doc.data, dict) else None
    if not isinstance(products, dict):
        return
    first: dict[str, str] = {}  # folded catalog identifier -> the product key that uses it first
    for key, product in products.items():
        identifier = product.get("connectwise_product") if isinstance(product, dict) else None
        if not isinstance(identifier, str) or not identifier.strip():
            continue
        folded = identifier.strip().casefold()
        if folded not in first:
            first[folded] = key
            continue
        other = first[folded]
        line, _ = doc.mark(("products", other, "connectwise_product"))
        yield doc.diagnostic(
            ("products", key, "connectwise_product"),
            f"products '{key}' and '{other}' (line {line}) both bill ConnectWise catalog item "
            f"'{identifier}': one addition cannot carry two seat counts; give each product its own "
            "catalog item",
        )


def check_customers(
    global_doc: YamlDocument | None, customers: Iterable[YamlDocument]
) -> list[Diagnostic]:
    """Per-customer checks that need global.yaml, and uniqueness across customer files.

    `customers` must come in slug order: that order decides which duplicate is "the second".
    """
    products = _products(global_doc)
    found: list[Diagnostic] = []
    seen: dict[str, dict[str, tuple[YamlDocument, JsonPath]]] = {
        "trend_customer_id": {},
        "connectwise_company": {},
    }
    for doc in customers:
        if not isinstance(doc.data, dict):
            continue
        found += _timezone(doc, ("billing", "timezone"))
        found += _unknown_products(doc, products)
        found += _integration(doc)
        found += _reported_usage_billed_early(global_doc, doc)
        for key, first in seen.items():
            found += _unique(doc, key, first)
    return found


def _products(global_doc: YamlDocument | None) -> set[str] | None:
    """Product keys of global.yaml, or None when they are unknown (then mappings go unchecked)."""
    if global_doc is None or not isinstance(global_doc.data, dict):
        return None
    products = global_doc.data.get("products")
    return set(products) if isinstance(products, dict) else None


def _timezone(doc: YamlDocument, path: JsonPath) -> Iterator[Diagnostic]:
    value = _get(doc.data, path)
    if isinstance(value, str) and value and not _zone_exists(value):
        message = f"unknown time zone '{value}': use an IANA name such as America/Chicago"
        close = difflib.get_close_matches(value, _zone_names(), n=1, cutoff=0.7)
        if close:
            message = f"unknown time zone '{value}' (did you mean '{close[0]}'?)"
        yield doc.diagnostic(path, message)


def _unknown_products(doc: YamlDocument, products: set[str] | None) -> Iterator[Diagnostic]:
    agreements = doc.data.get("agreements")
    if products is None or not isinstance(agreements, dict):
        return
    for key in agreements:
        if key not in products:
            message = f"unknown product '{key}': not in global.yaml products"
            close = difflib.get_close_matches(key, sorted(products), n=1, cutoff=0.6)
            message += (
                f" (did you mean '{close[0]}'?)" if close else f" ({', '.join(sorted(products))})"
            )
            yield doc.diagnostic(("agreements", key), message, at_key=True)
    also = doc.data.get("also_bills_to")
    for key in also if isinstance(also, dict) else ():
        if key not in agreements:
            yield doc.diagnostic(
                ("also_bills_to", key),
                f"also_bills_to names '{key}', which this file does not map under agreements",
                at_key=True,
            )


def _integration(doc: YamlDocument) -> Iterator[Diagnostic]:
    integration = doc.data.get("integration", "general")
    blocks = [block for block in OVERRIDE_BLOCKS if block in doc.data]
    if integration == "general":
        for block in blocks:
            yield doc.diagnostic(
                (block,),
                f"'{block}' has no effect with integration: general; set integration: custom "
                "to override the global settings, or remove the block",
                at_key=True,
            )
    elif integration == "custom" and not blocks:
        yield doc.diagnostic(
            ("integration",),
            "integration: custom needs a billing or executive_summary block to override; "
            "use integration: general to follow the global settings",
        )


def _unique(
    doc: YamlDocument, key: str, first: dict[str, tuple[YamlDocument, JsonPath]]
) -> Iterator[Diagnostic]:
    value = doc.data.get(key)
    if not isinstance(value, str) or not value or value.strip() == PLACEHOLDER_ID:
        return
    folded = value.casefold()
    if folded in first:
        other, path = first[folded]
        line, _ = other.mark(path)
        yield doc.diagnostic((key,), f"{key} '{value}' is already used by {other.display}:{line}")
    else:
        first[folded] = (doc, (key,))


def _get(data: Any, path: JsonPath) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


@functools.cache
def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


@functools.cache
def _zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())
