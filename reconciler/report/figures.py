"""The figures a report shows, computed once so the HTML and Markdown views cannot disagree.

A period page shows the period two ways, each labelled: what was billed *for* it (the seats
table, "Billed for"), and what was sent *during* it in the billing time zone (catch-ups of
earlier periods and executive summaries of the previous month included). "Customers billed"
counts a customer billed either way, so a run that billed six customers, two of them as a
catch-up, shows six.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from reconciler.ledger import SendKind, Trigger
from reconciler.periods import period_window
from reconciler.report.history import (
    Billed,
    Change,
    Failure,
    History,
    Send,
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
    sends: tuple[Send, ...]  # made for the report period
    sends_during: tuple[Send, ...] = ()  # made during the report period (billing time zone)
    unresolved: tuple[Failure, ...] = ()  # its problems of this or earlier periods no send resolved

    @property
    def revenue(self) -> dict[str | None, Decimal]:
        return self.current.revenue() if self.current else {}

    @property
    def margin(self) -> dict[str | None, Decimal]:
        return self.current.margin() if self.current else {}


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
    sends_during: tuple[Send, ...] = ()  # made during the period, for it or for an earlier one
    timezone: str = "UTC"  # billing.timezone: every time shown, and what "during" means
    previous_period: str | None = None  # neighbours that have a page (links between periods)
    next_period: str | None = None
    customer_count: int = 0  # customers in scope (the pages of other periods list none)
    mrr: tuple[dict[str | None, Decimal] | None, ...] = ()  # per window period, per currency
    mrr_more: dict[str | None, Decimal] = field(default_factory=dict)  # this period vs the previous one
    mrr_less: dict[str | None, Decimal] = field(default_factory=dict)
    # every problem for this period or an earlier one that no later send resolved (all customers in scope)
    unresolved: tuple[Failure, ...] = ()

    @property
    def mrr_now(self) -> dict[str | None, Decimal]:
        return (self.mrr[-1] if self.mrr else None) or {}

    def mrr_series(self) -> tuple[Series, ...]:
        """MRR per currency over the window, in whole units for the charts (one chart and axis per
        currency: amounts in two currencies share no scale; the table is exact). A period before
        any customer billed in a currency is a gap, not 0."""
        currencies = sorted({c for m in self.mrr if m for c in m}, key=lambda c: c or "")
        return tuple(
            Series(currency or "unknown", f"MRR {currency or '(currency unknown)'}",
                   tuple(None if m is None or currency not in m else int(m[currency].to_integral_value())
                         for m in self.mrr))
            for currency in currencies
        )

    @property
    def billed_for(self) -> set[str]:
        return {s.customer for s in self.sends if s.kind == SendKind.BILLING}

    @property
    def billed_during(self) -> set[str]:
        return {s.customer for s in self.sends_during if s.kind == SendKind.BILLING}

    @property
    def billed(self) -> set[str]:
        """Every customer billed for this period or during it (a catch-up of an earlier one)."""
        return self.billed_for | self.billed_during

    def count_during(self, kind: SendKind, trigger: Trigger | None = None) -> int:
        return sum(
            1 for s in self.sends_during
            if s.kind == kind and (trigger is None or s.trigger == trigger)
        )

    def count_sends(self, kind: SendKind, trigger: Trigger | None = None) -> int:
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
    if customers is history.customers:  # the whole MSP: each period's products, counted once
        for period in periods:
            products.update(history.billed_products(period))
    else:
        for customer in customers:
            for period in periods:
                billed = history.billed.get((customer, period))
                if billed:
                    products.update(billed.holdings)
    for period in periods:  # indexed by period (and customer): no scan of every change
        products.update(c.product for c in history.changes_in(period, customers))
    return products


def report_periods(history: History, timezone: str) -> tuple[str, ...]:
    """Every period that has a page: those the ledger bills, and the months sends were made in."""
    return tuple(sorted(set(history.periods) | set(history.send_months(timezone))))


def _not_yet_billed(
    history: History, customers: tuple[str, ...], period: str, product: str
) -> bool:
    """True when no customer billed for `period` holds `product` but one not (yet) billed for it
    held it at its last billing: the MSP total is then unknown (a gap), not a fall to 0."""
    for c in customers:
        billed = history.billed.get((c, period))
        if billed is not None and product in billed.holdings:
            return False
    for c in customers:
        if (c, period) in history.billed:
            continue
        before = history.last_billed(c, period)
        if before is not None and before.seats(product) > 0:
            return True
    return False


def build_figures(
    history: History,
    period: str,
    names: Names,
    customer: str | None = None,
    with_customers: bool = True,
) -> Figures:
    periods = period_window(period, WINDOW)
    customer_keys = (customer,) if customer else history.customers
    products = names.product_order(_window_products(history, customer_keys, periods))
    timezone = names.timezone

    msp_values = [history.msp_seats(p, products, customer_keys) for p in periods]

    def msp_value(i: int, product: str) -> int | None:
        values = msp_values[i]
        if values is None:
            return None
        if values[product] == 0 and _not_yet_billed(history, customer_keys, periods[i], product):
            return None
        return values[product]

    series = tuple(
        Series(product, names.product(product), tuple(msp_value(i, product) for i in range(len(periods))))
        for product in products
    )
    pages = report_periods(history, timezone)
    earlier = [p for p in pages if p < period]
    later = [p for p in pages if p > period]

    taken: set[str] = set()
    customer_figures = []
    for key in customer_keys if with_customers else ():
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
                sends_during=tuple(history.sends_during(period, timezone, (key,))),
                unresolved=tuple(history.unresolved(period, (key,))),
            )
        )

    moves = history.mrr_moves(period, periods[-2], customer_keys)
    return Figures(
        period=period,
        periods=periods,
        series=series,
        billed_counts=tuple(history.billed_count(p, customer_keys) for p in periods),
        changes=tuple(history.changes_in(period, customer_keys)),
        failures=tuple(history.failures_in(period, customer_keys)),
        sends=tuple(history.sends_in(period, customer_keys)),
        customers=tuple(customer_figures),
        names=names,
        record_count=history.record_count,
        latest_ts=history.latest_ts,
        scope=customer,
        sends_during=tuple(history.sends_during(period, timezone, customer_keys)),
        timezone=timezone,
        previous_period=earlier[-1] if earlier else None,
        next_period=later[0] if later else None,
        # Customers the config has but the ledger never billed count too: "5 of 7", not "5 of 5".
        customer_count=1 if customer else len(set(customer_keys) | set(names.customers)),
        mrr=tuple(history.mrr(p, customer_keys) for p in periods),
        mrr_more=moves[0],
        mrr_less=moves[1],
        unresolved=tuple(history.unresolved(period, (customer,) if customer else None)),
    )
