"""The figures a report shows, computed once so the HTML and Markdown views cannot disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.report.history import (
    Billed,
    Change,
    Failure,
    History,
    Send,
    period_window,
)
from reconciler.report.names import Names

WINDOW = 12  # periods of history on every chart: a year, so seasonality shows


@dataclass(frozen=True)
class Series:
    """One product's seats over the window; None where nothing was sent."""

    product: str
    label: str
    values: tuple[int | None, ...]


@dataclass(frozen=True)
class CustomerFigures:
    key: str  # the ledger's customer key (config file slug)
    file_slug: str  # safe file name for customers/<file_slug>.html
    name: str
    company: str
    series: tuple[Series, ...]
    current: Billed | None  # latest billing at or before the report period
    changes: tuple[Change, ...]
    failures: tuple[Failure, ...]
    sends: tuple[Send, ...]


@dataclass(frozen=True)
class Figures:
    period: str
    periods: tuple[str, ...]
    series: tuple[Series, ...]  # MSP-wide (or the --customer selection)
    billed_counts: tuple[int, ...]  # customers with a sent billing result, per period
    changes: tuple[Change, ...]
    failures: tuple[Failure, ...]
    sends: tuple[Send, ...]
    customers: tuple[CustomerFigures, ...]
    names: Names
    record_count: int
    latest_ts: str | None
    scope: str | None  # the --customer key, or None for the whole MSP

    def count_sends(self, kind: str, trigger: str | None = None) -> int:
        return sum(
            1 for s in self.sends if s.kind == kind and (trigger is None or s.trigger == trigger)
        )

    def product_label(self, key: str) -> str:
        return self.names.product(key)

    def customer_label(self, key: str) -> str:
        return self.names.customer(key)


def file_slug(key: str, taken: set[str]) -> str:
    """A file name that is safe on every OS and unique within the report.

    Ledger keys are config file slugs already; this guards against anything else that may
    reach the ledger (path separators, `..`, case-insensitive file systems).
    """
    base = re.sub(r"[^a-z0-9_-]+", "-", key.casefold()).strip("-") or "customer"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _window_products(
    history: History, customers: tuple[str, ...], periods: tuple[str, ...]
) -> set[str]:
    products: set[str] = set()
    for customer in customers:
        for period in periods:
            billed = history.billed.get((customer, period))
            if billed:
                products.update(billed.holdings)
    for period in periods:  # indexed by period (and customer): no scan of every change
        products.update(c.product for c in history.changes_in(period, customers))
    return products


def build_figures(
    history: History, period: str, names: Names, customer: str | None = None
) -> Figures:
    periods = period_window(period, WINDOW)
    customer_keys = (customer,) if customer else history.customers
    products = names.product_order(_window_products(history, customer_keys, periods))

    msp_values = [history.msp_seats(p, products, customer_keys) for p in periods]
    series = tuple(
        Series(
            product, names.product(product), tuple(v[product] if v else None for v in msp_values)
        )
        for product in products
    )

    taken: set[str] = set()
    customer_figures = []
    for key in customer_keys:
        own_products = names.product_order(_window_products(history, (key,), periods))
        own_values = [history.customer_seats(key, p) for p in periods]
        customer_figures.append(
            CustomerFigures(
                key=key,
                file_slug=file_slug(key, taken),
                name=names.customer(key),
                company=history.companies.get(key, ""),
                series=tuple(
                    Series(
                        product,
                        names.product(product),
                        tuple(None if v is None else v.get(product, 0) for v in own_values),
                    )
                    for product in own_products
                ),
                current=history.last_billed(key, period),
                changes=tuple(history.changes_in(period, (key,))),
                failures=tuple(history.failures_in(period, (key,))),
                sends=tuple(history.sends_in(period, (key,))),
            )
        )

    return Figures(
        period=period,
        periods=periods,
        series=series,
        billed_counts=tuple(
            sum(1 for c in customer_keys if (c, p) in history.billed) for p in periods
        ),
        changes=tuple(history.changes_in(period, customer_keys)),
        failures=tuple(history.failures_in(period, customer_keys)),
        sends=tuple(history.sends_in(period, customer_keys)),
        customers=tuple(customer_figures),
        names=names,
        record_count=history.record_count,
        latest_ts=history.latest_ts,
        scope=customer,
    )
